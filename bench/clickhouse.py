"""The ClickHouse click store on a clickhouse-server of the bench's own (Debian's 18.16 here):

- ingest: clicks/s of one consumer's ClickService.ingest (enrich, the check for known ids, one
  INSERT) in batches, and of the store alone (clicks already enriched); then of 1, 2 and 4
  consumer processes at once (5,000-click batches);
- the client: one 5,000-row INSERT over httpx with JSONEachRow, and with clickhouse-connect
  when it is importable (`uv run --with clickhouse-connect python bench/clickhouse.py`);
- stats: links seeded with --clicks over 90 days (INSERT ... SELECT on the server, its time
  said): 90-day stats by hour and by day, p50/p95 of --queries calls, at query time only (up to
  2M clicks) and after the roll-up job (its time said): a link seeded up to now (today's hours
  sealed but the last, read raw with its visitors united with the day's set), one whose days
  are all sealed, and an hour's share of clicks in the last hour alone (all raw).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parts.budget import BenchError, Budget
from parts.processes import HOST, free_ports, start_server, wait_ready, with_servers
from parts.runner import run_bench

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository, for tools/
from tools.clickhouse_server import find_program, server_argv

from surge.analytics.clickhouse_repository import DAY_US, ClickHouseClicks, to_us
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.enrich import EVERYTHING, enrich
from surge.analytics.geoip import nowhere
from surge.analytics.service import ClickService
from surge.data.events import ClickEvent
from surge.platform.clickhouse import ClickHouseError, HttpClickHouse

AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]


def events(count: int, now: datetime, seed: int) -> list[ClickEvent]:
    rng = random.Random(seed)
    return [
        ClickEvent(
            id=uuid.UUID(int=rng.getrandbits(128)).hex,  # as the redirect makes them
            link_id=rng.randint(1, 1000),
            slug="s",
            ts=(now - timedelta(seconds=rng.randint(0, 3600))).timestamp(),
            referrer=rng.choice([None, "https://t.co/x", "https://news.ycombinator.com/"]),
            user_agent=rng.choice(AGENTS),
            country=rng.choice([None, "DE", "US", "BR"]),
            visitor=f"v{rng.randint(1, 5000)}",
        )
        for i in range(count)
    ]


async def ingest_rates(url: str, clicks: int, batch: int) -> dict[str, float]:
    now = datetime.now(UTC)
    ch = HttpClickHouse(url)
    try:
        service = ClickService(None, clickhouse=ClickHouseClicks(ch))  # type: ignore[arg-type]
        sent = events(clicks, now, seed=1)
        started = time.perf_counter()
        for first in range(0, clicks, batch):
            await service.ingest(sent[first : first + batch])
        service_s = time.perf_counter() - started
        store = ClickHouseClicks(ch)
        enriched = [enrich(e, nowhere, EVERYTHING, None) for e in events(clicks, now, seed=2)]
        started = time.perf_counter()
        for first in range(0, clicks, batch):
            await store.ingest_new(enriched[first : first + batch])
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        await store.store(enriched[:5000])
        insert_5000_ms = (time.perf_counter() - started) * 1000
    finally:
        await ch.aclose()
    return {
        "service_clicks_per_s": round(clicks / service_s),
        "store_clicks_per_s": round(clicks / store_s),
        "httpx_json_insert_5000_ms": round(insert_5000_ms, 1),
    }


def _consumer(url: str, clicks: int, seed: int, start_at: float) -> None:
    """One consumer process: its own ClickService, its own clicks, from `start_at` on."""
    time.sleep(max(0.0, start_at - time.time()))
    asyncio.run(_ingest_all(url, events(clicks, datetime.now(UTC), seed)))


async def _ingest_all(url: str, sent: list[ClickEvent]) -> None:
    ch = HttpClickHouse(url)
    try:
        service = ClickService(None, clickhouse=ClickHouseClicks(ch))  # type: ignore[arg-type]
        for first in range(0, len(sent), 5000):
            await service.ingest(sent[first : first + 5000])
    finally:
        await ch.aclose()


def consumers_rate(url: str, consumers: int, clicks: int) -> int:
    """Clicks/s of `consumers` processes ingesting at once, `clicks` each, 5,000 a batch."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3  # after every process has imported Surge
    processes = [
        context.Process(target=_consumer, args=(url, clicks, 100 + i, start_at))
        for i in range(consumers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise BenchError(f"a consumer process exited with {process.exitcode}")
    return round(consumers * clicks / (time.time() - start_at))


def clickhouse_connect_insert_ms(url: str, database: str) -> float | None:
    """One 5,000-row INSERT through clickhouse-connect, when it is importable."""
    try:
        import clickhouse_connect  # type: ignore[import-not-found]
    except ImportError:
        return None
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        client = clickhouse_connect.get_client(host=HOST, port=port, database=database)
    except Exception as exc:  # what it says of an 18.16 server is the finding
        print(f"clickhouse-connect: {exc}", file=sys.stderr)
        return None
    columns = ["link_id", "at_us", "id", "day", "device", "browser", "os", "is_bot", "visitor_id"]
    today = datetime.now(UTC).date()
    rows = [[7, i, f"cc-{i}", today, "desktop", "Chrome", "Linux", 0, "v"] for i in range(5000)]
    started = time.perf_counter()
    client.insert("clicks", rows, column_names=columns)
    return round((time.perf_counter() - started) * 1000, 1)


async def bytes_per_click(url: str) -> float:
    """On disk, compressed, of the clicks ingested above (realistic ids, agents, referrers),
    once merged into one part per month."""
    ch = HttpClickHouse(url)
    try:
        await ch.execute(f"OPTIMIZE TABLE {ch.database}.clicks FINAL")
        rows = await ch.rows(
            "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active "
            f"AND database = '{ch.database}' AND table = 'clicks'"
        )
    finally:
        await ch.aclose()
    size, count = rows[0]
    return round(int(size) / max(1, int(count)), 1)


SEEDED = 424242  # over 90 days up to now: today's sealed hours, and the last hour raw
SEALED = 424243  # over the 90 days before today: every day rolled up
LAST_HOUR = 424244  # an hour's share of the clicks, in the last hour: raw, none sealed
SEED_CHUNK = 10_000_000


async def seed(ch: HttpClickHouse, link_id: int, clicks: int, first: int, span: int) -> None:
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
    ch: HttpClickHouse, service: ClickService, link_id: int, now: datetime, interval: str
) -> list[dict[str, float]] | None:
    """Each statement of one stats request run 5 times more with the query log on: the median
    of its CPU time on the server (what the machine's other load inflates less than wall
    time), its rows read and memory. None where the server's query log differs (18.16's)."""
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


async def stats_at_scale(
    url: str, clicks: int, queries: int, now: datetime | None = None
) -> dict[str, Any]:
    """Stats of links seeded with `clicks` over 90 days: at query time only (when cheap
    enough to time), then with the sealed days and hours rolled up (the job's time said)."""
    ch = HttpClickHouse(url, timeout_s=3600)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    today = to_us(now) // DAY_US * DAY_US
    found: dict[str, Any] = {"clicks": clicks, "now": now.isoformat()}
    try:
        started = time.perf_counter()
        await seed(ch, SEALED, clicks, today - 90 * DAY_US, 90 * DAY_US)
        seed_s = time.perf_counter() - started
        found["seed_s"] = round(seed_s, 1)
        found["seed_clicks_per_s"] = round(clicks / seed_s)
        await seed(ch, SEEDED, clicks, to_us(now) - 90 * DAY_US, 90 * DAY_US)
        await seed(ch, LAST_HOUR, max(1, clicks // 2160), to_us(now) - 3600 * 10**6, 3600 * 10**6)
        service = ClickService(None, clickhouse=ClickHouseClicks(ch))  # type: ignore[arg-type]
        if clicks <= 2_000_000:  # a 1M-click link takes seconds a request
            found["raw_only_hour"] = await timed_ms(service, SEEDED, now, "hour", queries)
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
                found[f"{name}_{interval}"] = await timed_ms(
                    service, link_id, now, interval, queries
                )
                found[f"{name}_{interval}_server"] = await server_cpu(
                    ch, service, link_id, now, interval
                )
    finally:
        await ch.aclose()
    return found


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    schema = HttpClickHouse(url)
    try:
        await ensure_schema(schema)
        payload: dict[str, Any] = {"server": (await schema.rows("SELECT version()"))[0][0]}
    finally:
        await schema.aclose()
    if not args.stats_only:
        for batch in args.batches:
            payload[f"ingest_batch_{batch}"] = await ingest_rates(url, args.ingest_clicks, batch)
        payload["bytes_per_click"] = await bytes_per_click(url)
    payload["stats"] = await stats_at_scale(url, args.clicks, args.queries, args.now)
    return payload


def bench(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    program = find_program()
    if program is None:
        raise BenchError("clickhouse-server is not installed (apt-get install clickhouse-server)")
    (port,) = free_ports(1)
    budget = Budget(args.budget_s)

    def work(launched: list[Any]) -> dict[str, Any]:
        argv = server_argv(program, tmp / "clickhouse", port)
        launched.append(start_server("clickhouse", port, argv, {}, tmp, health_path="/ping"))
        wait_ready(launched, budget)
        base = f"http://default@{HOST}:{port}"
        payload = asyncio.run(measure(f"{base}/bench", args))
        if not args.stats_only:
            payload["ingest_clicks_per_s_by_consumers"] = {
                n: consumers_rate(f"{base}/bench", n, args.ingest_clicks) for n in args.consumers
            }
            payload["clickhouse_connect_insert_5000_ms"] = clickhouse_connect_insert_ms(
                base, "bench"
            )
        return payload

    payload = with_servers(work)
    for key, value in payload.items():
        print(f"{key}: {value}")
    return payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest-clicks", type=int, default=50_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--consumers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clicks", type=int, default=1_000_000, help="the seeded link's")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--budget-s", type=float, default=900)
    parser.add_argument("--stats-only", action="store_true", help="skip the ingest figures")
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        help="the instant the stats figures take as now (e.g. 2026-12-08T23:50:00+00:00, late "
        "in a UTC day: most of today's clicks in sealed hours); the clock's by default",
    )
    args = parser.parse_args()
    return run_bench("clickhouse", lambda tmp: bench(tmp, args))


if __name__ == "__main__":
    sys.exit(main())
