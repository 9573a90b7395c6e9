"""The stats half of bench/clickhouse.py: links seeded over 90 days, the roll-up job, and 90-day
stats timed through ClickService on either engine (an HTTP clickhouse-server, or chdb
in-process), with each statement's CPU time."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.chdb_clickhouse import ChdbClickHouse

from surge.analytics.clickhouse_repository import DAY_US, ClickHouseClicks, to_us
from surge.analytics.service import ClickService
from surge.platform.clickhouse import ClickHouse, ClickHouseError, HttpClickHouse

from .budget import BenchError, Budget

SEEDED = 424242  # over 90 days up to now: today's sealed hours, and the last hour raw
SEALED = 424243  # over the 90 days before today: every day rolled up
LAST_HOUR = 424244  # an hour's share of the clicks, in the last hour: raw, none sealed
SEED_CHUNK = 10_000_000


async def seed(ch: ClickHouse, link_id: int, clicks: int, first: int, span: int) -> None:
    """`clicks` clicks of the link spread evenly over [first, first + span) µs, INSERT ...
    SELECT on the server in chunks (realistic spreads of referrers, countries, bots, 50,000
    visitors), at millisecond steps: n times the span in µs would overflow 64 bits at 10M."""
    for offset in range(0, clicks, SEED_CHUNK):
        await ch.execute(
            f"INSERT INTO {ch.database}.clicks (link_id, at_us, id, day, referrer_host, country, "
            "device, browser, os, is_bot, visitor_id) "
            f"SELECT {link_id}, {first} + intDiv(n * {span // 1000}, {clicks}) * 1000 AS at, "
            f"concat('seed-{link_id}-', toString(n)), toDate(toDateTime(intDiv(at, 1000000))), "
            "['t.co', 'news.ycombinator.com', NULL][n % 3 + 1], "
            "['DE', 'US', 'BR', NULL][n % 4 + 1], 'desktop', 'Chrome', 'Linux', "
            f"n % 10 = 0, concat('v', toString(n % 50000)) "
            f"FROM (SELECT number + {offset} AS n FROM numbers({min(SEED_CHUNK, clicks - offset)}))"
        )


async def timed_ms(
    service: ClickService, link_id: int, now: datetime, interval: str, n: int
) -> dict[str, float]:
    """p50 and p95 of `n` calls of the link's 90-day stats by `interval`, in ms."""
    took = []
    for _ in range(n):
        started = time.perf_counter()
        await service.link_stats_json(link_id, now - timedelta(days=90), now, interval)  # type: ignore[arg-type]
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[max(0, int(len(took) * 0.95) - 1)], 1),
    }


async def server_cpu(
    ch: ClickHouse, service: ClickService, link_id: int, now: datetime, interval: str
) -> list[dict[str, float]] | None:
    """Each statement of one stats request run 5 times more with the query log on: the median
    of its CPU time on the server (what the machine's other load inflates less than wall
    time), its rows read and memory. None where the server's query log differs (18.16's);
    on chdb, its own query log (chdb_cpu)."""
    recorded: list[str] = []
    rows = ch.rows

    async def recording(sql: str) -> list[list[Any]]:
        recorded.append(sql)
        return await rows(sql)

    ch.rows = recording  # type: ignore[method-assign]
    try:
        await service.link_stats_json(link_id, now - timedelta(days=90), now, interval)  # type: ignore[arg-type]
    finally:
        ch.rows = rows  # type: ignore[method-assign]
    if isinstance(ch, ChdbClickHouse):
        return await chdb_cpu(ch, recorded)
    assert isinstance(ch, HttpClickHouse)
    tag = uuid.uuid4().hex[:8]
    logged = {"log_queries": "1", "log_profile_events": "1"}
    for statement, sql in enumerate(recorded):
        for run in range(5):
            await ch.client.post(
                "",
                params={**logged, "query_id": f"{tag}-{statement}-{run}"},
                content=f"{sql} FORMAT Null".encode(),
            )
    cpu = "ProfileEvents.Values[indexOf(ProfileEvents.Names, 'OSCPUVirtualTimeMicroseconds')]"
    query = (
        f"SELECT toUInt32(splitByChar('-', query_id)[2]) AS statement, median({cpu}) / 1000, "
        "any(read_rows), max(memory_usage) / 1e6 FROM system.query_log WHERE type = 2 "
        f"AND query_id LIKE '{tag}-%' GROUP BY statement ORDER BY statement"
    )
    deadline = time.monotonic() + 30  # the server writes its query log every 7.5 s
    found: list[list[Any]] = []
    while len(found) < len(recorded):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(1)
        try:  # system.query_log is made at the first write
            found = await ch.rows(query)
        except ClickHouseError as exc:
            if "query_log" not in str(exc):
                raise
    return [
        {"cpu_ms": round(float(ms), 1), "rows_read": int(read), "memory_mb": round(float(mb), 1)}
        for _, ms, read, mb in found
    ]


async def chdb_cpu(ch: ChdbClickHouse, recorded: list[str]) -> list[dict[str, float]]:
    """chdb has no system.query_log (no server config): each statement run 5 times more, the
    median of this process's CPU time over it instead (all threads: the engine's and the
    adapter's JSON parse), what the machine's other load inflates less than wall time; and of
    its `EXPLAIN PLAN` (analysis and planning, no rows read; scalar subqueries, though, are
    run by the analyzer, so the prelude's plan is most of its run)."""

    async def cpu_ms(sql: str) -> float:
        took = []
        for _ in range(5):
            started = time.process_time()
            await ch.rows(sql)
            took.append((time.process_time() - started) * 1000)
        return round(statistics.median(took), 1)

    return [
        {"process_cpu_ms": await cpu_ms(sql), "plan_cpu_ms": await cpu_ms(f"EXPLAIN PLAN {sql}")}
        for sql in recorded
    ]


async def stats_at_scale(
    ch: ClickHouse,
    clicks: int,
    queries: int,
    now: datetime | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Stats of links seeded with `clicks` over 90 days: at query time only (when cheap
    enough to time), then with the sealed days and hours rolled up (the job's time said).
    The budget is checked between steps (an in-process engine cannot be stopped mid-way)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    today = to_us(now) // DAY_US * DAY_US
    found: dict[str, Any] = {"clicks": clicks, "now": now.isoformat()}

    def step(what: str) -> None:
        if budget is not None:
            budget.require(0, what)

    started = time.perf_counter()
    await seed(ch, SEALED, clicks, today - 90 * DAY_US, 90 * DAY_US)
    seed_s = time.perf_counter() - started
    found["seed_s"] = round(seed_s, 1)
    found["seed_clicks_per_s"] = round(clicks / seed_s)
    step("seeding the other links")
    await seed(ch, SEEDED, clicks, to_us(now) - 90 * DAY_US, 90 * DAY_US)
    await seed(ch, LAST_HOUR, max(1, clicks // 2160), to_us(now) - 3600 * 10**6, 3600 * 10**6)
    service = ClickService(None, clickhouse=ClickHouseClicks(ch))  # type: ignore[arg-type]
    if clicks <= 2_000_000:  # a 1M-click link takes seconds a request
        found["raw_only_hour"] = await timed_ms(service, SEEDED, now, "hour", queries)
    step("the roll-up job")
    started = time.perf_counter()
    days = await ClickHouseClicks(ch).rollups.roll_up(now)
    rollup_s = time.perf_counter() - started
    found["rollup_job_s"] = round(rollup_s, 1)
    found["rollup_days"] = len(days)
    found["rollup_clicks_per_s"] = round(2 * clicks / rollup_s)
    for link_id in (SEALED, SEEDED):  # rollups alone; days, hours and the raw tail
        counted = await service.click_count(link_id)
        if counted != clicks:
            raise BenchError(f"link {link_id} counts {counted} clicks of {clicks}")
    ((today_clicks, tail),) = await ch.rows(
        f"SELECT countIf(at_us >= {today}), countIf(at_us >= (SELECT max(through_us) "
        f"FROM {ch.database}.hour_rollup_progress)) FROM {ch.database}.clicks "
        f"WHERE link_id = {SEEDED} AND day >= toDate({today // DAY_US})"
    )
    found["today_clicks"], found["raw_tail_clicks"] = int(today_clicks), int(tail)
    for name, link_id in (
        ("today_hours", SEEDED),
        ("all_sealed", SEALED),
        ("hour_tail", LAST_HOUR),
    ):
        for interval in ("hour", "day"):
            step(f"timing {name} by {interval}")
            found[f"{name}_{interval}"] = await timed_ms(service, link_id, now, interval, queries)
            found[f"{name}_{interval}_server"] = await server_cpu(
                ch, service, link_id, now, interval
            )
    return found


async def select_1_ms(ch: ClickHouse, n: int = 200) -> dict[str, float]:
    """p50 / p95 of `SELECT 1` through the store's client: over HTTP, the round trip a chdb
    figure lacks; on chdb, the engine's own floor for a statement."""
    took = []
    for _ in range(n):
        started = time.perf_counter()
        await ch.rows("SELECT 1")
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 2),
        "p95_ms": round(took[int(len(took) * 0.95) - 1], 2),
    }
