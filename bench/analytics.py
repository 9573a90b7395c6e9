"""Analytics at scale: ingest clicks/s, stats p95 and search p95, each against its target.

Runs in-process against a throwaway PostgreSQL database on 127.0.0.1 (SURGE_BENCH_PG_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres as the admin connection) and a temporary
SQLite file, through the same service classes the HTTP routes call (`ClickService`,
`LinkService`): what is measured is the service and its database, not HTTP.

    uv run python bench/analytics.py                  # bounded default: a few minutes
    uv run python bench/analytics.py --heavy    # + ingest into and stats at 10M clicks (kept db)
    uv run python bench/analytics.py --search-only --search-links 1000000 --keep-db surge_search
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from parts.runner import run_bench
from sqlalchemy.engine import make_url

from surge.analytics.service import ClickService
from surge.capacity.seed import SeedPlan, click_events, seed
from surge.platform.db import SessionMaker, create_engine, create_sessionmaker
from surge.platform.migrations import upgrade_to_head

ADMIN_URL = os.environ.get("SURGE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
INGEST_TARGET_PG = 50_000.0  # clicks/s per analytics process
STATS_TARGET_MS = 20.0
SEARCH_TARGET_MS = 20.0
HEAVY = 10_000_000  # clicks of the --heavy database's link
# The link a fresh database's ingest measures take (clicks need no link row): not one the stats
# measures seed next, which would then hold these clicks too.
UNSEEDED_LINK = 10**9


@dataclass(slots=True)
class Row:
    what: str
    backend: str
    value: float
    unit: str
    target: str
    ok: bool | None
    command_s: float


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def create_pg_database(name: str | None) -> tuple[str, bool]:
    """(SQLAlchemy URL, created now). A kept database that exists is reused as it is."""
    name = name or f"surge_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False), not exists


async def drop_pg_database(url: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


# How the bench's clicks spread in time: as a backfill (5,000-click batches spanning 4.5 days
# each, time-ordered or shuffled) or as the stream delivers them (a few minutes of clicks).
SPREADS = {
    "time-ordered over 90 days": (90.0, False),
    "shuffled over 90 days": (90.0, True),
    "as a stream: the last 10 minutes": (10 / 1440, False),
}


async def ingest_rate(
    sessions: SessionMaker, clicks: int, *, days: float, shuffle: bool, link_id: int
) -> tuple[float, float, float | None]:
    """Clicks/s through ClickService.ingest in 5,000-click batches spread over `days`, the
    Python CPU per click, and PostgreSQL's (its backends', when it runs on this machine) in µs:
    a machine shared with other work moves the rate, much less the CPU a click costs."""
    plan = SeedPlan(links=1, clicks=clicks, days=days, shuffle=shuffle, seed=7)
    service = ClickService(sessions)
    batches = list(click_events(plan, [link_id], ["bench"], datetime.now(UTC)))
    await service.ingest(batches[0][:100])  # warm-up: user-agent rules, statements
    server = await backend_cpu_s(sessions)
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        await service.ingest(batch)
    elapsed = time.perf_counter() - start
    python_us = (time.process_time() - cpu) / clicks * 1e6
    after = await backend_cpu_s(sessions)
    server_us = None if server is None or after is None else (after - server) / clicks * 1e6
    return clicks / elapsed, python_us, server_us


async def backend_cpu_s(sessions: SessionMaker) -> float | None:
    """CPU seconds of the database's client backends (this bench's connections alone: its
    database is its own), from /proc; None on SQLite or a server elsewhere."""
    from sqlalchemy import text

    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return None
        found = await session.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend'"
            )
        )
        pids = list(found.scalars())
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def loop_stall_ms(sessions: SessionMaker, batches: int = 40, size: int = 500) -> float:
    """The longest the event loop went unserved while ClickService.ingest took `batches`
    batches of `size` clicks: in the all-in-one process, the longest a redirect could wait."""
    plan = SeedPlan(links=50, clicks=batches * size, batch=size, seed=11)
    ids = list(range(UNSEEDED_LINK, UNSEEDED_LINK + 50))
    work = list(click_events(plan, ids, [str(i) for i in ids], datetime.now(UTC)))
    service = ClickService(sessions)
    await service.ingest(work[0][:50])  # warm-up
    longest, done = 0.0, False

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    task = asyncio.create_task(ticker())
    for batch in work:
        await service.ingest(batch)
    done = True
    await task
    return longest * 1000


async def stats_p95(
    sessions: SessionMaker, link_id: int, requests: int
) -> dict[str, tuple[float, float]]:
    """(p95, median) in ms of what the stats route does (ClickService.link_stats_json: the
    queries and the JSON answer) over the last 90 days, per interval."""
    service = ClickService(sessions)
    end = datetime.now(UTC) + timedelta(hours=1)
    start = end - timedelta(days=90)
    out = {}
    # As a server process does once started (surge.platform.service.Lifespan): what set-up
    # allocated is moved out of the collector's sight, so a full pass walks only request garbage.
    gc.collect()
    gc.freeze()
    for interval in ("hour", "day"):
        await service.link_stats_json(link_id, start, end, interval)  # warm the cache
        samples = await timed(
            lambda i=interval: service.link_stats_json(link_id, start, end, i), requests
        )
        out[interval] = (p95(samples), statistics.median(samples))
    return out


async def bench_backend(
    url: str, backend: str, args: argparse.Namespace, rows: list[Row], *, fresh: bool
) -> None:
    engine = create_engine(url, pool_size=2)
    try:
        await upgrade_to_head(engine)
        sessions = create_sessionmaker(engine)
        if args.search_only:
            await search_rows(sessions, backend, args, rows, fresh=fresh)
            return
        await ingest_rows(
            sessions, backend, args, rows, into="a fresh database", link=UNSEEDED_LINK
        )
        t = time.perf_counter()
        stall = await loop_stall_ms(sessions)
        rows.append(
            Row(
                "longest event-loop stall while ingesting 500-click batches",
                backend,
                stall,
                "ms",
                "a few ms",
                None,
                time.perf_counter() - t,
            )
        )
        await stats_rows(sessions, backend, args, rows, size=100_000, fresh=fresh)
        await search_rows(sessions, backend, args, rows, fresh=fresh)
    finally:
        await engine.dispose()


async def heavy_rows(url: str, args: argparse.Namespace, rows: list[Row], *, fresh: bool) -> None:
    """Ingest into, and stats of a link of, a database that holds 10M clicks: seeded the first
    time (~15-20 min on 2 shared cores), reused as it is afterwards."""
    engine = create_engine(url, pool_size=2)
    try:
        await upgrade_to_head(engine)
        sessions = create_sessionmaker(engine)
        link_id = await stats_rows(sessions, "postgresql", args, rows, size=HEAVY, fresh=fresh)
        held = await clicks_held(sessions)
        await ingest_rows(
            sessions, "postgresql", args, rows, into=f"a database of {held:,} clicks", link=link_id
        )
    finally:
        await engine.dispose()


async def ingest_rows(
    sessions: SessionMaker,
    backend: str,
    args: argparse.Namespace,
    rows: list[Row],
    *,
    into: str,
    link: int,
) -> None:
    for spread, (days, shuffle) in SPREADS.items():
        t = time.perf_counter()
        rate, python_us, server_us = await ingest_rate(
            sessions, args.ingest_clicks, days=days, shuffle=shuffle, link_id=link
        )
        # On SQLite the database works in this process (aiosqlite's thread): its CPU is here.
        cpu = f"{python_us:.1f} µs Python" + (
            " and SQLite" if server_us is None else f" + {server_us:.1f} µs PostgreSQL"
        )
        target_ok = rate >= INGEST_TARGET_PG if backend == "postgresql" else None
        rows.append(
            Row(
                f"ingest into {into}, {spread} ({args.ingest_clicks:,} clicks; {cpu} CPU/click)",
                backend,
                rate,
                "clicks/s",
                ">= 50,000/s" if backend == "postgresql" else "as fast as it goes",
                target_ok,
                time.perf_counter() - t,
            )
        )


async def stats_rows(
    sessions: SessionMaker,
    backend: str,
    args: argparse.Namespace,
    rows: list[Row],
    *,
    size: int,
    fresh: bool,
) -> int:
    """Stats p95 by the hour and by the day of a link with `size` clicks; the link's id."""
    t = time.perf_counter()
    link_id = await seeded_link(sessions, size, fresh=fresh)
    seeded_s = time.perf_counter() - t
    held = await ClickService(sessions).click_count(link_id)  # a kept link grows by the ingests
    t = time.perf_counter()
    result = await stats_p95(sessions, link_id, args.requests)
    for interval, (ms, median) in result.items():
        rows.append(
            Row(
                f"stats p95, {held:,} clicks over 90 days, interval={interval} "
                f"(median {median:.1f} ms; seeded in {seeded_s:.0f}s)",
                backend,
                ms,
                "ms",
                "< 20 ms",
                ms < STATS_TARGET_MS,
                time.perf_counter() - t,
            )
        )
    return link_id


async def clicks_held(sessions: SessionMaker) -> int:
    """Every click the database holds, from the hourly rollup (a count of `clicks` is slow)."""
    from sqlalchemy import func, select

    from surge.data.tables import hourly_clicks

    async with sessions() as session:
        total = await session.execute(select(func.coalesce(func.sum(hourly_clicks.c.clicks), 0)))
        return int(total.scalar_one())


async def search_rows(
    sessions: SessionMaker, backend: str, args: argparse.Namespace, rows: list[Row], *, fresh: bool
) -> None:
    links = args.search_links or 100_000
    t = time.perf_counter()
    found = await search_p95(sessions, links, args.requests, fresh=fresh)
    for name, (ms, median) in found.items():
        rows.append(
            Row(
                f"search p95, {links:,} links, {name} (median {median:.1f} ms)",
                backend,
                ms,
                "ms",
                "< 20 ms",
                ms < SEARCH_TARGET_MS,
                time.perf_counter() - t,
            )
        )


SEEDED_MARK = "seed-bench-{size}"


async def seeded_link(sessions: SessionMaker, size: int, *, fresh: bool) -> int:
    """A link with `size` clicks over 90 days; in a kept database, the one seeded before."""
    from sqlalchemy import select

    from surge.data.tables import api_keys, links

    async with sessions() as session:
        found = await session.execute(
            select(links.c.id)
            .join(api_keys, api_keys.c.user_id == links.c.owner_id)
            .where(api_keys.c.name == SEEDED_MARK.format(size=size))
        )
        existing = found.scalar()
    if existing is not None and not fresh:
        return int(existing)
    plan = SeedPlan(links=1, clicks=size, days=90, seed=size)
    mark = SEEDED_MARK.format(size=size)
    result = await seed(sessions, plan, progress=sys.stderr.isatty(), owner_name=mark)
    return result.link_ids[0]


SEARCH_TERMS = {
    "no term": None,
    "rare term (no match)": "zz-no-such-link",
    "one link's slug": "{slug}",
    "common term (every link)": "example.com",
}


async def search_p95(
    sessions: SessionMaker, size: int, requests: int, *, fresh: bool
) -> dict[str, tuple[float, float]]:
    """(p95, median) ms of the first page (50) of `GET /api/v1/links?q=` as its SQL runs, per
    kind of term, for an owner with `size` links."""
    from sqlalchemy import select

    from surge.data.tables import api_keys, links
    from surge.links.repository import LinkRepository

    mark = f"search-bench-{size}"
    async with sessions() as session:
        owner = (
            await session.execute(select(api_keys.c.user_id).where(api_keys.c.name == mark))
        ).scalar()
    if owner is None or fresh:
        plan = SeedPlan(links=size, clicks=0)
        seeded = await seed(sessions, plan, progress=sys.stderr.isatty(), owner_name=mark)
        owner = seeded.owner_id
    async with sessions() as session:
        slug = (
            await session.execute(select(links.c.slug).where(links.c.owner_id == owner).limit(1))
        ).scalar_one()
    out = {}
    for name, term in SEARCH_TERMS.items():
        q = None if term is None else term.format(slug=slug)

        async def page(q: str | None = q) -> None:
            async with sessions() as session:
                await LinkRepository(session).page(owner, before_id=None, limit=51, tag=None, q=q)

        await page()
        samples = await timed(page, requests)
        out[name] = (p95(samples), statistics.median(samples))
    return out


def print_table(rows: list[Row]) -> None:
    print(f"\n{'measure':<100}{'backend':<12}{'value':>12}  {'target':<20}{'ok':<4}")
    for row in rows:
        ok = "-" if row.ok is None else ("yes" if row.ok else "NO")
        value = f"{row.value:,.0f}" if row.unit == "clicks/s" else f"{row.value:.1f}"
        print(f"{row.what:<100}{row.backend:<12}{value:>9} {row.unit:<4}  {row.target:<20}{ok}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-clicks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50, help="stats requests per measure")
    parser.add_argument(
        "--heavy", action="store_true", help="ingest into and stats at 10M clicks (PostgreSQL)"
    )
    parser.add_argument(
        "--heavy-db",
        default="surge_bench_10m",
        help="the kept PostgreSQL database of --heavy: seeded once, reused (default %(default)s)",
    )
    parser.add_argument("--keep-db", help="PostgreSQL database to keep and reuse (heavy seeds)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--search-only", action="store_true", help="only the search part")
    parser.add_argument("--search-links", type=int, help="links searched (default 100k)")
    return parser.parse_args(argv)


async def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rows: list[Row] = []
    if args.heavy and not args.search_only:
        # First: right after the fresh database's work and its DROP, the kept database's stats
        # measured 3-7 times slower than alone (2026-12-07: p95 55-65 ms, then 7-8 ms alone).
        heavy_url, created = await create_pg_database(args.heavy_db)
        await heavy_rows(heavy_url, args, rows, fresh=created)
    url, fresh = await create_pg_database(args.keep_db)
    try:
        await bench_backend(url, "postgresql", args, rows, fresh=fresh)
    finally:
        if not args.keep_db:
            await drop_pg_database(url)
    if not args.skip_sqlite:
        await bench_backend(f"sqlite+aiosqlite:///{tmp}/bench.db", "sqlite", args, rows, fresh=True)
    print_table(rows)
    return {"options": vars(args), "rows": [asdict(r) for r in rows]}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("analytics", lambda tmp: asyncio.run(bench(args, tmp)))


if __name__ == "__main__":
    sys.exit(main())
