"""The outbox and its claims on both backends: two workers (two engines, as two replicas would
have) deliver the same endpoints' events, never one endpoint by both at the same time, each
event once and in order; a replica that died holding an endpoint is taken over once its lease
runs out."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import timedelta

import httpx
from sqlalchemy import func, insert, select

from surge.data.tables import users, webhook_click_queue, webhook_outbox
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, create_sessionmaker, transaction
from surge.webhooks.addresses import policy_from
from surge.webhooks.delivery import Sender
from surge.webhooks.event_repository import insert_outbox_rows
from surge.webhooks.outbox_repository import OutboxRepository
from surge.webhooks.repository import EndpointRepository, NewEndpoint
from surge.webhooks.worker import WebhookWorker
from tests.helpers import engine_on, wait_for

ENDPOINTS = 4
EVENTS = 25


class Recorder:
    """A receiver behind a mock transport that notes overlapping deliveries per endpoint."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = defaultdict(int)
        self.overlaps = 0
        self.got: dict[str, list[str]] = defaultdict(list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.in_flight[path] += 1
        self.overlaps += self.in_flight[path] > 1
        await asyncio.sleep(0.002)  # long enough for another replica to try the same endpoint
        self.got[path].append(request.headers["surge-webhook-id"])
        self.in_flight[path] -= 1
        return httpx.Response(200)


async def seed(sessions: SessionMaker) -> dict[str, list[str]]:
    """Endpoints with their events queued; the event ids each must get, in order."""
    expected: dict[str, list[str]] = {}
    now = utc_now()
    async with transaction(sessions) as session:
        user = await session.execute(
            insert(users).values(is_admin=False, created_at=now).returning(users.c.id)
        )
        owner_id = int(user.scalar_one())
        repo = EndpointRepository(session)
        for n in range(ENDPOINTS):
            path = f"/hook/{n}"
            endpoint_id = await repo.add(
                NewEndpoint(
                    owner_id, f"http://127.0.0.1:9{path}", ("link.created",), None, None, "s"
                ),
                now,
            )
            expected[path] = [f"{n:02d}{i:030d}" for i in range(EVENTS)]
            rows = [(endpoint_id, e, "link.created", "{}") for e in expected[path]]
            await insert_outbox_rows(session, rows, now)
    return expected


async def test_two_workers_deliver_each_event_once_in_order_never_together(
    settings: Settings, sessions: SessionMaker
) -> None:
    expected = await seed(sessions)
    recorder = Recorder()
    async with (
        engine_on(settings.database_url) as other_engine,
        httpx.AsyncClient(transport=httpx.MockTransport(recorder.handle)) as client,
    ):
        sender = Sender(client, policy_from(settings), settings.webhook_timeout_s)
        workers = [
            WebhookWorker(settings, sessions, sender, name="one"),
            WebhookWorker(settings, create_sessionmaker(other_engine), sender, name="two"),
        ]

        async def work(worker: WebhookWorker) -> None:
            while sum(map(len, recorder.got.values())) < ENDPOINTS * EVENTS:
                await worker.round()

        await asyncio.wait_for(asyncio.gather(*(work(w) for w in workers)), timeout=30)
    assert recorder.overlaps == 0
    assert dict(recorder.got) == expected  # once each, in order


async def test_an_endpoint_held_by_a_dead_replica_is_taken_over_when_its_lease_ends(
    settings: Settings, sessions: SessionMaker
) -> None:
    await seed(sessions)
    now = utc_now()
    async with sessions() as session:
        due = await OutboxRepository(session).due_endpoints(now, limit=10)
    assert len(due) == ENDPOINTS
    async with transaction(sessions) as session:
        repo = OutboxRepository(session)
        assert await repo.claim(due[0], "dead", now, now + timedelta(seconds=0.3))
        assert not await repo.claim(due[0], "alive", now, now + timedelta(seconds=5))
    async with sessions() as session:
        assert due[0] not in await OutboxRepository(session).due_endpoints(utc_now(), limit=10)

    async def free_again() -> bool:
        async with transaction(sessions) as session:
            moment = utc_now()
            return await OutboxRepository(session).claim(
                due[0], "alive", moment, moment + timedelta(seconds=5)
            )

    await wait_for(free_again, timeout_s=5, what="the dead replica's lease to end")


async def test_queued_clicks_leave_in_bounded_batches_each_once(
    settings: Settings, sessions: SessionMaker
) -> None:
    """Two workers batching the same queue at once: every click in exactly one event, in
    order, none over SURGE_WEBHOOK_CLICK_BATCH_MAX; the rest leaves once it has waited."""
    now = utc_now()
    async with transaction(sessions) as session:
        user = await session.execute(
            insert(users).values(is_admin=False, created_at=now).returning(users.c.id)
        )
        endpoint_id = await EndpointRepository(session).add(
            NewEndpoint(
                int(user.scalar_one()), "http://127.0.0.1:9/", ("link.clicked",), None, None, "s"
            ),
            now,
        )
        await session.execute(
            insert(webhook_click_queue),
            [
                {"endpoint_id": endpoint_id, "click": f'{{"id":{i}}}', "queued_at": now}
                for i in range(120)
            ],
        )
    async with engine_on(settings.database_url) as other_engine:
        async with httpx.AsyncClient() as client:
            sender = Sender(client, policy_from(settings), settings.webhook_timeout_s)
            workers = [
                WebhookWorker(settings, sessions, sender, name="one"),
                WebhookWorker(settings, create_sessionmaker(other_engine), sender, name="two"),
            ]
            made = await asyncio.gather(*(w.batch_clicks() for w in workers))
            # Two full batches of 50 are due, 20 wait for more or for time. Of two workers racing
            # for the same rows one may find them taken and make nothing this round (PostgreSQL
            # re-checks a locked row, not the subquery that chose it); the next round takes them.
            assert 1 <= sum(made) <= 2

            async def all_out() -> bool:
                await workers[0].batch_clicks()
                async with sessions() as session:
                    left = await session.execute(
                        select(func.count()).select_from(webhook_click_queue)
                    )
                    return left.scalar_one() == 0

            await wait_for(all_out, what="the last clicks' batch")
    async with sessions() as session:
        bodies = (
            await session.execute(select(webhook_outbox.c.body).order_by(webhook_outbox.c.seq))
        ).scalars()
        batches = [[c["id"] for c in json.loads(b)["data"]["clicks"]] for b in bodies]
    assert [len(b) for b in batches] == [50, 50, 20]
    assert sorted(i for b in batches for i in b) == list(range(120))
    assert all(b == sorted(b) for b in batches)
