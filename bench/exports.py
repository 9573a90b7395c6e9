"""Exports with flat memory: a link's raw visits downloaded through the real HTTP API
(`GET /api/v1/links/{slug}/visits?format=csv|json`) from a `surge serve` process, for a link
with 100,000 visits and one with 1,000,000, on SQLite and on PostgreSQL.

For each backend: a throwaway database (a file in the temp dir; a `CREATE DATABASE` on
127.0.0.1:5432 as `postgres`, dropped afterwards), `surge migrate`, a key, the all-in-one
`surge serve` (api and analytics in one process: what the export goes through), the two links
made through the API, then their visits seeded straight into `clicks` in bulk (sqlite3
`executemany`, asyncpg `COPY`; the raw table only, which is all an export reads; timed and
printed), and `ANALYZE`. Then per format a warm-up download of the smaller link (the code paths
loaded once), and each link's download, streamed and counted by the bench (every row checked
to be there) while it reads the server's RSS: its peak (VmHWM, reset before each download
through /proc/PID/clear_refs, and sampled every 10 ms as well). The figure is the ratio
peak(1M) / peak(100k) of the server's RSS: flat memory is ~1.0, where a download held whole
would be ~10x its growth. Rows/s is the download's own rate, end to end. Part of `make bench`.

    uv run --frozen python bench/exports.py [--sizes 100000,1000000] [--formats csv,json]
                                            [--backends sqlite,postgresql] [--budget 900]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from parts.budget import BenchError, Budget
from parts.processes import (
    HOST,
    Server,
    free_ports,
    run_cli,
    start_server,
    stop_servers,
    wait_ready,
)
from parts.runner import run_bench
from parts.stack import bench_database
from parts.systems import CLI, INTERNAL_TOKEN, surge_argv

TARGET_RATIO = 1.2  # peak RSS exporting 1M visits / exporting 100k: flat is ~1.0
COLUMNS = (
    "id",
    "link_id",
    "occurred_at",
    "referrer_host",
    "country",
    "device",
    "browser",
    "os",
    "is_bot",
    "visitor_id",
    "target",
    "region",
    "city",
)
REFERRERS = ("news.ycombinator.com", "t.co", None, "www.google.com", "lobste.rs")
PLACES = (("DE", "Bavaria", "Munich"), ("JP", "Tokyo", "Tokyo"), ("US", None, None), (None,) * 3)


def visit_rows(link_id: int, count: int, end: datetime) -> Iterator[tuple[Any, ...]]:
    """`count` visits of the link, one every 2 s up to `end`, varied like real ones."""
    for i in range(count):
        country, region, city = PLACES[i % len(PLACES)]
        yield (
            f"{link_id:08x}{i:024x}",
            link_id,
            end - timedelta(seconds=2 * (count - i)),
            REFERRERS[i % len(REFERRERS)],
            country,
            "Desktop" if i % 3 else "Mobile",
            "Firefox" if i % 2 else "Chrome",
            "Linux" if i % 2 else "Android",
            i % 50 == 0,
            f"{i % 7919:032x}",
            None,
            region,
            city,
        )


def seed_sqlite(path: Path, link_id: int, count: int, end: datetime) -> None:
    connection = sqlite3.connect(path, timeout=60)
    try:
        with connection:
            # SQLite keeps naive UTC text with microseconds (surge.data.types.UTCDateTime).
            connection.executemany(
                f"INSERT INTO clicks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 13)})",
                (
                    (*r[:2], r[2].replace(tzinfo=None).isoformat(" ", "microseconds"), *r[3:])
                    for r in visit_rows(link_id, count, end)
                ),
            )
        connection.execute("ANALYZE clicks")
    finally:
        connection.close()


async def seed_postgres(dsn: str, link_id: int, count: int, end: datetime) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "clicks", records=visit_rows(link_id, count, end), columns=COLUMNS
        )
        await connection.execute("ANALYZE clicks")
    finally:
        await connection.close()


def link_id_of(backend: str, url: str, db_file: Path, slug: str) -> int:
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(db_file)) as connection:
            row = connection.execute("SELECT id FROM links WHERE slug = ?", (slug,)).fetchone()
            return int(row[0])

    async def fetch() -> int:
        connection = await asyncpg.connect(url)
        try:
            return int(await connection.fetchval("SELECT id FROM links WHERE slug = $1", slug))
        finally:
            await connection.close()

    return asyncio.run(fetch())


# --- the server's memory -------------------------------------------------------------------------


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


class PeakRss:
    """The peak RSS of a process over a block: VmHWM reset at its start (when the kernel lets
    us) and VmRSS sampled every 10 ms, whichever is higher."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.reset = False
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            with contextlib.suppress(OSError, BenchError):
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))

    def __enter__(self) -> PeakRss:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.reset = True
        self.before_kb = status_kb(self.pid, "VmRSS")
        self.peak_kb = self.before_kb
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.reset:
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmHWM"))


# --- a download ----------------------------------------------------------------------------------


def download(server: Server, key: str, slug: str, fmt: str, timeout_s: float) -> tuple[int, int]:
    """Stream the link's visits; (rows found in it, bytes)."""
    marker = b"\r\n" if fmt == "csv" else b'{"id":'
    found, size, carry = 0, 0, b""
    with httpx.stream(
        "GET",
        f"{server.url}/api/v1/links/{slug}/visits",
        params={"format": fmt},
        headers={"authorization": f"Bearer {key}"},
        timeout=timeout_s,
    ) as response:
        if response.status_code != 200:
            response.read()
            raise BenchError(f"export of {slug}: {response.status_code} {response.text[:200]}")
        for chunk in response.iter_raw(1 << 16):
            size += len(chunk)
            window = carry + chunk  # a marker may straddle two chunks
            found += window.count(marker) - carry.count(marker)
            carry = window[-(len(marker) - 1) :]
    return (found - 1 if fmt == "csv" else found), size  # CSV: less its header row


def run_backend(
    backend: str, url: str, tmp: Path, args: argparse.Namespace, budget: Budget
) -> dict[str, Any]:
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=url,
        SURGE_PUBLIC_URL=f"http://{HOST}:{port}",
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_INTERNAL_TOKEN=INTERNAL_TOKEN,
        SURGE_VISITOR_SALT_SECRET="surge-bench-visitor-salt",  # defaults refused on PostgreSQL
        SURGE_LOG_LEVEL="warning",
        # No rate limit of the API's stands between the bench and its few requests.
        SURGE_RATE_LIMIT_PER_KEY="1000000/minute",
    )
    run_cli([*CLI, "migrate"], env, tmp, budget)
    key = run_cli([*CLI, "keys", "create", "--name", "bench"], env, tmp, budget).split()[-1]
    servers: list[Server] = []
    try:
        server = start_server(f"surge-{backend}", port, surge_argv("all", port), env, tmp)
        servers.append(server)
        wait_ready(servers, budget)
        seeding: dict[str, float] = {}
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        for size in args.sizes:
            slug = f"v{size}"
            made = httpx.post(
                f"{server.url}/api/v1/links",
                json={"url": "https://example.com/", "slug": slug},
                headers={"authorization": f"Bearer {key}"},
                timeout=10,
            )
            if made.status_code != 201:
                raise BenchError(f"creating {slug}: {made.status_code} {made.text[:200]}")
            link_id = link_id_of(backend, url.replace("+asyncpg", ""), tmp / "bench.db", slug)
            budget.require(size / 50_000, f"seeding {size:,} visits")
            started = time.perf_counter()
            if backend == "sqlite":
                seed_sqlite(tmp / "bench.db", link_id, size, end)
            else:
                asyncio.run(seed_postgres(url.replace("+asyncpg", ""), link_id, size, end))
            seeding[str(size)] = round(time.perf_counter() - started, 1)
            print(f"{backend}: seeded {size:,} visits in {seeding[str(size)]:.1f} s", flush=True)

        exports: list[dict[str, Any]] = []
        for fmt in args.formats:
            download(server, key, f"v{min(args.sizes)}", fmt, budget.remaining())  # warm-up
            for size in args.sizes:
                budget.require(size / 20_000, f"the {fmt} export of {size:,} visits")
                with PeakRss(server.process.pid) as rss:
                    started = time.perf_counter()
                    rows, size_bytes = download(server, key, f"v{size}", fmt, budget.remaining())
                    seconds = time.perf_counter() - started
                if rows != size:
                    raise BenchError(f"{backend} {fmt}: {rows:,} rows exported of {size:,}")
                exports.append(
                    {
                        "format": fmt,
                        "visits": size,
                        "seconds": round(seconds, 2),
                        "rows_per_s": round(size / seconds),
                        "mb": round(size_bytes / 1e6, 1),
                        "rss_before_mb": round(rss.before_kb / 1024, 1),
                        "rss_peak_mb": round(rss.peak_kb / 1024, 1),
                        "hwm_reset": rss.reset,
                    }
                )
                print(
                    f"{backend} {fmt} {size:>9,}: {seconds:6.1f} s, {size / seconds:>8,.0f} "
                    f"rows/s, {size_bytes / 1e6:6.1f} MB, server RSS {rss.before_kb / 1024:.0f}"
                    f" -> peak {rss.peak_kb / 1024:.0f} MB",
                    flush=True,
                )
        return {"backend": backend, "seeding_s": seeding, "exports": exports}
    finally:
        stop_servers(servers)


def ratios(results: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """peak(largest) / peak(smallest) per backend and format."""
    rows = []
    for result in results:
        for fmt in {e["format"] for e in result["exports"]}:
            by_size = {e["visits"]: e for e in result["exports"] if e["format"] == fmt}
            small, large = by_size[min(sizes)], by_size[max(sizes)]
            ratio = large["rss_peak_mb"] / small["rss_peak_mb"]
            rows.append(
                {
                    "backend": result["backend"],
                    "format": fmt,
                    "peak_small_mb": small["rss_peak_mb"],
                    "peak_large_mb": large["rss_peak_mb"],
                    "ratio": round(ratio, 3),
                    "met": ratio <= TARGET_RATIO,
                }
            )
    return rows


def bench(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    budget = Budget(args.budget)
    results = []
    for backend in args.backends:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
            results.append(run_backend(backend, url, tmp, args, budget))
        else:
            with bench_database() as url:
                results.append(run_backend(backend, url, tmp, args, budget))
    table = ratios(results, args.sizes)
    print(
        f"\nserver peak RSS, {max(args.sizes):,} visits / {min(args.sizes):,} (target <= "
        f"{TARGET_RATIO}):"
    )
    for row in table:
        print(
            f"  {row['backend']:<10} {row['format']:<4} {row['peak_small_mb']:6.0f} MB -> "
            f"{row['peak_large_mb']:6.0f} MB  ratio {row['ratio']:.2f}  "
            f"{'met' if row['met'] else 'NOT MET'}"
        )
    return {
        "target_ratio": TARGET_RATIO,
        "sizes": args.sizes,
        "results": results,
        "ratios": table,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--formats", default="csv,json")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds, all included")
    args = parser.parse_args()
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    args.formats = args.formats.split(",")
    args.backends = args.backends.split(",")
    return run_bench("exports", lambda tmp: bench(tmp, args))


if __name__ == "__main__":
    sys.exit(main())
