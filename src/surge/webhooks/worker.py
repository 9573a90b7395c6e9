"""The delivery worker: a supervised loop in the analytics service (docs/adr/0008).

Each round it gathers queued clicks into link.clicked batches, then claims the endpoints whose
first undelivered event is due (a lease: one replica at a time per endpoint) and delivers
each one's events in order, the next only once the one before is delivered. A failure leaves
the event at the head, to be tried again after a jittered exponential wait (tenacity) kept in
the outbox, so a restart keeps the schedule; after SURGE_WEBHOOK_MAX_FAILURES failures in a
row the endpoint is disabled, and re-enabling it resumes at that same event. Delivered at
least once: a crash between receivers' answers and the commit that records them (one for up
to EVENTS_PER_ROUND events) sends those events again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import datetime, timedelta

import orjson
from tenacity import RetryCallState, Retrying, wait_random_exponential

from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import (
    WEBHOOK_ENDPOINTS_DISABLED,
    WEBHOOK_OUTBOX_AGE,
    WEBHOOK_OUTBOX_PENDING,
)
from surge.webhooks.delivery import Sender
from surge.webhooks.event_repository import insert_outbox_rows
from surge.webhooks.events import LINK_CLICKED, event_body, new_event_id
from surge.webhooks.outbox_repository import Attempt, Head, OutboxRepository

log = get_logger(__name__)
EVENTS_PER_CLAIM = 500  # then the endpoint is let go, so one busy endpoint cannot hog a replica
# Events read, sent and recorded together: one commit for up to this many deliveries (a crash
# before it sends them again; receivers dedup by event id).
EVENTS_PER_ROUND = 50
MEASURE_EVERY_S = 5.0
KEEP_DELIVERED = timedelta(days=7)  # delivered events (for resending) and attempts
FORGET_EVERY_S = 3600.0


def backoff(base_s: float, cap_s: float) -> wait_random_exponential:
    """The wait after the n-th failure in a row: uniform in [base, min(cap, base * 2^(n-1))]."""
    return wait_random_exponential(multiplier=base_s, max=cap_s, min=base_s)


def wait_after(strategy: wait_random_exponential, failures: int) -> float:
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = failures
    return float(strategy(state))


class WebhookWorker:
    def __init__(
        self, settings: Settings, sessions: SessionMaker, sender: Sender, *, name: str = ""
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.sender = sender
        self.owner = name or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"[:64]
        self.wait = backoff(settings.webhook_backoff_base_s, settings.webhook_backoff_cap_s)
        self.lease = timedelta(seconds=settings.webhook_lease_s)
        self.loop = SupervisedLoop("webhook-delivery", self.step)
        self._next_measure = 0.0
        self._next_forget = 0.0

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop(grace_s=1.0)

    async def step(self) -> None:
        if not await self.round():
            await self.loop.sleep(self.settings.webhook_poll_s)

    async def round(self) -> int:
        """One pass: click batches, then every due endpoint once. Events made and delivered
        (none: nothing was due, the loop may wait)."""
        made = await self.batch_clicks()
        now = utc_now()
        async with self.sessions() as session:
            due = await OutboxRepository(session).due_endpoints(now, limit=50)
        claimed = []
        for endpoint_id in due:
            async with transaction(self.sessions) as session:
                if await OutboxRepository(session).claim(
                    endpoint_id, self.owner, now, now + self.lease
                ):
                    claimed.append(endpoint_id)
        delivered = sum(await asyncio.gather(*(self.drain(e) for e in claimed)))
        if time.monotonic() >= self._next_measure:
            self._next_measure = time.monotonic() + MEASURE_EVERY_S
            await self.measure()
        if time.monotonic() >= self._next_forget:
            self._next_forget = time.monotonic() + FORGET_EVERY_S
            await self.forget_old()
        return made + delivered

    async def batch_clicks(self) -> int:
        """Queued clicks into link.clicked events: per endpoint, a full batch or one whose
        first click has waited long enough. Events made."""
        s = self.settings
        now = utc_now()
        cut_off = now - timedelta(seconds=s.webhook_click_batch_seconds)
        async with self.sessions() as session:
            due = await OutboxRepository(session).due_click_batches(
                s.webhook_click_batch_max, cut_off
            )
        made = 0
        for endpoint_id in due:  # one batch each; a fuller queue is due again next round
            async with transaction(self.sessions) as session:
                repo = OutboxRepository(session)
                clicks = await repo.take_clicks(endpoint_id, s.webhook_click_batch_max)
                if clicks:
                    event_id = new_event_id()
                    data = {"clicks": orjson.Fragment("[" + ",".join(clicks) + "]")}
                    body = event_body(event_id, LINK_CLICKED, now, data)
                    await insert_outbox_rows(
                        session, [(endpoint_id, event_id, LINK_CLICKED, body)], now
                    )
                    made += 1
        return made

    async def drain(self, endpoint_id: int) -> int:
        """Deliver the endpoint's events in order while they succeed and the lease holds."""
        delivered = 0
        try:
            while delivered < EVENTS_PER_CLAIM:
                now = utc_now()
                async with transaction(self.sessions) as session:
                    repo = OutboxRepository(session)
                    if not await repo.renew(endpoint_id, self.owner, now, now + self.lease):
                        return delivered  # another replica has it now
                    heads = await repo.heads(endpoint_id, EVENTS_PER_ROUND)
                if not heads or not heads[0].enabled or heads[0].next_attempt_at > now:
                    return delivered
                sent = await self.send_in_order(heads)
                delivered += sent
                if sent < len(heads):
                    return delivered
            return delivered
        finally:
            async with transaction(self.sessions) as session:
                await OutboxRepository(session).release(endpoint_id, self.owner)

    async def send_in_order(self, heads: list[Head]) -> int:
        """Send `heads` one after the other until one fails or the lease could run out before
        the next try ends; record them in one transaction (a crash before it sends those
        again: at least once). How many were delivered."""
        renewed = time.monotonic()
        margin = self.settings.webhook_lease_s - self.settings.webhook_timeout_s
        tried: list[tuple[Head, Attempt, datetime]] = []
        destination = await self.sender.destination(heads[0].url)  # one endpoint's heads
        for head in heads:
            if tried and time.monotonic() - renewed > margin / 2:
                break
            attempt = await self.sender.send(head, destination)
            tried.append((head, attempt, utc_now()))
            if not attempt.ok:
                break
        done = [head.seq for head, attempt, _ in tried if attempt.ok]
        last, attempt, now = tried[-1]
        disabled = None
        async with transaction(self.sessions) as session:
            repo = OutboxRepository(session)
            await repo.record(tried)
            if done:
                await repo.delivered(last.endpoint_id, done, now)
            if not attempt.ok:
                failures = (0 if done else last.consecutive_failures) + 1
                if failures >= self.settings.webhook_max_failures:
                    disabled = f"{failures} failed deliveries in a row, the last: {attempt.error}"
                retry_at = now + timedelta(seconds=wait_after(self.wait, failures))
                await repo.failed(last, retry_at, disabled)
        if disabled:
            log.warning("webhook_endpoint_disabled", endpoint_id=last.endpoint_id, reason=disabled)
        return len(done)

    async def measure(self) -> None:
        async with self.sessions() as session:
            repo = OutboxRepository(session)
            pending, oldest = await repo.backlog()
            disabled = await repo.disabled()
        WEBHOOK_OUTBOX_PENDING.set(pending)
        WEBHOOK_OUTBOX_AGE.set(_age_s(oldest))
        WEBHOOK_ENDPOINTS_DISABLED.set(disabled)

    async def forget_old(self) -> None:
        async with transaction(self.sessions) as session:
            await OutboxRepository(session).forget_before(utc_now() - KEEP_DELIVERED)


def _age_s(oldest: datetime | None) -> float:
    return 0.0 if oldest is None else max(0.0, (utc_now() - oldest).total_seconds())
