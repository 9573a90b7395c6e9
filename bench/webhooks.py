"""Webhooks: delivery throughput (events/s to a receiver on 127.0.0.1) and what ingest pays for
them, on SQLite and PostgreSQL, through the service classes analytics runs.

The receiver is a process of its own (asyncio, answers 200 at once), so it does not share the
worker's event loop. Delivery: one WebhookWorker drains `--events` queued events, spread over
1 endpoint (strictly one at a time, in order) and over 8 (delivered side by side). Ingest:
ClickService.ingest of 500-click batches without webhooks, with webhooks but no endpoint
taking clicks (the cost every installation pays), and with one endpoint taking them.

    uv run --frozen python bench/webhooks.py                  # about a minute
    uv run --frozen python bench/webhooks.py --events 5000 --skip-postgres
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parts.runner import run_bench
from parts.stack import bench_database
from sqlalchemy import delete, func, insert, select

from surge.analytics.service import ClickService
from surge.capacity.seed import SeedPlan, click_events
from surge.data.tables import users, webhook_endpoints, webhook_outbox
from surge.links.repository import LinkRepository
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, create_engine, create_sessionmaker, transaction
from surge.platform.migrations import upgrade_to_head
from surge.webhooks.addresses import policy_from
from surge.webhooks.delivery import Sender, webhook_client
from surge.webhooks.event_repository import ClickWebhooks, insert_outbox_rows
from surge.webhooks.events import event_body, new_event_id
from surge.webhooks.repository import EndpointRepository, NewEndpoint
from surge.webhooks.worker import WebhookWorker

BATCH = 500
LINKS = 50


def receive(port: int) -> None:
    """The receiver process: HTTP/1.1 keep-alive, 200 to every request, nothing kept."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def owner(sessions: SessionMaker) -> int:
    async with transaction(sessions) as session:
        made = await session.execute(
            insert(users).values(is_admin=False, created_at=utc_now()).returning(users.c.id)
        )
        return int(made.scalar_one())


async def delivery_rate(
    sessions: SessionMaker, settings: Settings, port: int, events: int, endpoints: int
) -> float:
    """Events/s one worker delivers, `events` spread over `endpoints` endpoints."""
    user = await owner(sessions)
    now = utc_now()
    link = {"slug": "x" * 8, "url": "https://example.com/" + "p" * 60, "tags": ["a", "b"]}
    body = event_body(new_event_id(), "link.created", now, {"link": link})
    async with transaction(sessions) as session:
        repo = EndpointRepository(session)
        ids = [
            await repo.add(
                NewEndpoint(
                    user, f"http://127.0.0.1:{port}/in/{n}", ("link.created",), None, None, "s"
                ),
                now,
            )
            for n in range(endpoints)
        ]
        rows = [(ids[i % endpoints], new_event_id(), "link.created", body) for i in range(events)]
        await insert_outbox_rows(session, rows, now)
    async with webhook_client(settings.webhook_timeout_s) as client:
        worker = WebhookWorker(settings, sessions, Sender(client, policy_from(settings), 5.0))
        start = time.perf_counter()
        delivered = 0
        while delivered < events:
            delivered += await worker.round()
        elapsed = time.perf_counter() - start
    async with sessions() as session:
        left = (
            await session.execute(
                select(func.count()).where(webhook_outbox.c.delivered_at.is_(None))
            )
        ).scalar_one()
    assert left == 0, f"{left} events left undelivered"
    return events / elapsed


async def ingest_ms(sessions: SessionMaker, rounds: int) -> dict[str, float]:
    """Median ms per 500-click ingest: no webhooks; webhooks, no endpoint taking clicks; one
    endpoint taking every click (each queued once). Rounds alternate, so drift hits all."""
    user = await owner(sessions)
    async with transaction(sessions) as session:
        await LinkRepository(session).add_many(
            user, [(f"b{i}", "https://example.com/") for i in range(LINKS)], utc_now()
        )
    ids = list(range(1, LINKS + 1))
    plan = SeedPlan(links=LINKS, clicks=(rounds * 3 + 1) * BATCH, batch=BATCH, seed=5)
    batches = list(click_events(plan, ids, [str(i) for i in ids], datetime.now(UTC)))
    plain, hooked = ClickService(sessions), ClickService(sessions, webhooks=ClickWebhooks())
    await plain.ingest(batches.pop()[:50])  # warm-up
    samples: dict[str, list[float]] = {"without": [], "no endpoint": [], "one endpoint": []}
    subscribed = False
    for i in range(rounds * 3):
        what = list(samples)[i % 3]
        if what == "one endpoint" and not subscribed:
            async with transaction(sessions) as session:
                await EndpointRepository(session).add(
                    NewEndpoint(user, "http://127.0.0.1:9/", ("link.clicked",), None, None, "s"),
                    utc_now(),
                )
            subscribed = True
        if what == "no endpoint" and subscribed:
            continue
        service = plain if what == "without" else hooked
        start = time.perf_counter()
        await service.ingest(batches[i])
        samples[what].append((time.perf_counter() - start) * 1000)
    found = {what: statistics.median(times) for what, times in samples.items() if times}
    return found | {"the check alone (no endpoint)": await check_ms(sessions)}


async def check_ms(sessions: SessionMaker, calls: int = 300) -> float:
    """What ingest adds per batch when no endpoint takes clicks: the one query that asks, in
    an ingest-like transaction (median, ms). Measured apart: it is below the noise of a whole
    batch on a shared machine."""
    async with transaction(sessions) as session:
        await session.execute(delete(webhook_endpoints))  # none takes clicks now
    hooks, times = ClickWebhooks(), []
    for _ in range(calls):
        async with transaction(sessions) as session:
            start = time.perf_counter()
            assert not await hooks.subscribers(session)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def bench_backend(
    url: str, backend: str, args: argparse.Namespace, port: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    settings = Settings(database_url=url, webhook_allowed_hosts=["127.0.0.1"], webhook_poll_s=0.01)
    for endpoints in (1, 8):
        engine = create_engine(url)
        await upgrade_to_head(engine)
        try:
            rate = await delivery_rate(
                create_sessionmaker(engine), settings, port, args.events, endpoints
            )
        finally:
            await engine.dispose()
        what = f"delivered, {endpoints} endpoint(s)"
        rows.append({"what": what, "backend": backend, "value": round(rate), "unit": "events/s"})
        await _empty(url)
    engine = create_engine(url)
    try:
        costs = await ingest_ms(create_sessionmaker(engine), args.rounds)
    finally:
        await engine.dispose()
    for what, ms in costs.items():
        what = f"ingest of {BATCH} clicks, webhooks: {what}"
        rows.append({"what": what, "backend": backend, "value": round(ms, 2), "unit": "ms"})
    return rows


async def _empty(url: str) -> None:
    """The next measure starts from empty outbox and endpoint tables."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in ("webhook_outbox", "webhook_deliveries", "webhook_endpoints", "users"):
                await connection.exec_driver_sql(f"DELETE FROM {table}")
    finally:
        await engine.dispose()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per delivery measure")
    parser.add_argument("--rounds", type=int, default=40, help="ingest batches per variant")
    parser.add_argument("--skip-postgres", action="store_true")
    return parser.parse_args(argv)


def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    receiver = multiprocessing.get_context("spawn").Process(target=receive, args=(port,))
    receiver.start()
    try:
        time.sleep(1.0)  # the spawned interpreter's start; a refused first try would be retried
        rows = asyncio.run(
            bench_backend(f"sqlite+aiosqlite:///{tmp}/bench.db", "sqlite", args, port)
        )
        if not args.skip_postgres:
            with bench_database() as url:
                rows += asyncio.run(bench_backend(url, "postgresql", args, port))
    finally:
        receiver.terminate()
        receiver.join(5)
    for row in rows:
        print(f"{row['what']:<62}{row['backend']:<12}{row['value']:>10} {row['unit']}")
    return {"options": vars(args), "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("webhooks", lambda tmp: bench(args, tmp))


if __name__ == "__main__":
    sys.exit(main())
