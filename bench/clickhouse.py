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

`--engine chdb` runs the stats (`--stats-only` only) on ClickHouse 26.x in-process instead
(chdb, a dev dependency; its data in the bench's temporary directory): what the same store code
costs on a current engine. There is no HTTP there: its figures are the engine plus Surge's
Python (ClickService -> ClickHouseClicks -> tools/chdb_clickhouse.py's adapter); add the
round trip of a trivial statement to an HTTP server, which the server engine's run prints
(`select_1_http_ms`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import multiprocessing
import random
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
from parts.clickhouse_stats import select_1_ms, stats_at_scale
from tools.chdb_clickhouse import ChdbClickHouse, chdb_session_in
from tools.clickhouse_server import find_program, server_argv

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.enrich import EVERYTHING, enrich
from surge.analytics.geoip import nowhere
from surge.analytics.service import ClickService
from surge.data.events import ClickEvent
from surge.platform.clickhouse import HttpClickHouse

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


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    schema = HttpClickHouse(url)
    try:
        await ensure_schema(schema)
        payload: dict[str, Any] = {"server": (await schema.rows("SELECT version()"))[0][0]}
        payload["select_1_http_ms"] = await select_1_ms(schema)
    finally:
        await schema.aclose()
    if not args.stats_only:
        for batch in args.batches:
            payload[f"ingest_batch_{batch}"] = await ingest_rates(url, args.ingest_clicks, batch)
        payload["bytes_per_click"] = await bytes_per_click(url)
    ch = HttpClickHouse(url, timeout_s=3600)
    try:
        payload["stats"] = await stats_at_scale(ch, args.clicks, args.queries, args.now)
    finally:
        await ch.aclose()
    return payload


CHDB_NOTE = (
    "chdb: ClickHouse in-process; the figures are the engine plus Surge's Python (ClickService "
    "-> ClickHouseClicks -> the adapter), without an HTTP round trip to a server: add the "
    "server engine's select_1_http_ms for a figure comparable with a server's"
)


async def measure_chdb(session: Any, args: argparse.Namespace, budget: Budget) -> dict[str, Any]:
    ch = ChdbClickHouse(session, "bench")
    await ensure_schema(ch)
    payload: dict[str, Any] = {
        "engine": "chdb",
        "server": (await ch.rows("SELECT version()"))[0][0],
        "chdb_package": importlib.metadata.version("chdb"),
        "note": CHDB_NOTE,
        "select_1_chdb_ms": await select_1_ms(ch),
    }
    payload["stats"] = await stats_at_scale(ch, args.clicks, args.queries, args.now, budget)
    return payload


def bench_chdb(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The stats on chdb, its data in the bench's temporary directory (removed after)."""
    if not args.stats_only:
        raise BenchError("--engine chdb measures the stats only: pass --stats-only")
    if importlib.util.find_spec("chdb") is None:
        raise BenchError("chdb is not installed (uv sync installs the dev dependencies)")
    budget = Budget(args.budget_s)  # checked between steps: chdb cannot be stopped mid-statement
    with chdb_session_in(tmp / "chdb") as session:
        payload = asyncio.run(measure_chdb(session, args, budget))
    for key, value in payload.items():
        print(f"{key}: {value}")
    return payload


def bench(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    if args.engine == "chdb":
        return bench_chdb(tmp, args)
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


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--engine",
        choices=["server", "chdb"],
        default="server",
        help="clickhouse-server over HTTP (Debian's 18.16 here), or chdb in-process "
        "(ClickHouse 26.x, --stats-only: no HTTP round trip in its figures)",
    )
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
    return parser.parse_args(argv)


def main() -> int:
    args = parse()
    name = "clickhouse" if args.engine == "server" else "clickhouse-chdb"  # results apart
    return run_bench(name, lambda tmp: bench(tmp, args))


if __name__ == "__main__":
    sys.exit(main())
