"""Streaming replication lag on this machine: a commit on a primary until it is visible on a
replica of it, what `SURGE_DATABASE_REPLICA_FRESH_S` (read-your-writes) must outlast.

A primary and a `pg_basebackup -R` replica of their own (Debian's PostgreSQL binaries; as the
`postgres` user under root; fsync on), on free ports, removed afterwards:
300 single-row commits with synchronous_commit on (PostgreSQL's default) and off (visible
after the WAL writer's round, wal_writer_delay), then a burst of 100,000 rows in 20 commits.

    uv run --frozen python bench/replica_lag.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.chaos.faults import PostgresCluster  # the tests' own clusters

COMMITS = 300
BURST_BATCHES, BURST_ROWS = 20, 5000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def visible_after_commit(primary: asyncpg.Connection, replica: asyncpg.Connection) -> None:
    for synchronous_commit in ("on", "off"):
        await primary.execute(f"SET synchronous_commit = {synchronous_commit}")
        await primary.execute("TRUNCATE t")
        lags_ms = []
        for i in range(COMMITS):
            await primary.execute("INSERT INTO t VALUES ($1, 'x')", i)
            start = time.perf_counter()
            while not await replica.fetchval("SELECT count(*) FROM t WHERE id = $1", i):
                pass
            lags_ms.append((time.perf_counter() - start) * 1000)
        print(
            f"synchronous_commit={synchronous_commit}: a commit visible on the replica after "
            f"p50 {percentile(lags_ms, 0.5):.2f} ms, p95 {percentile(lags_ms, 0.95):.2f} ms, "
            f"max {max(lags_ms):.2f} ms ({COMMITS} commits)"
        )


async def burst(primary: asyncpg.Connection, replica: asyncpg.Connection) -> None:
    await primary.execute("SET synchronous_commit = on")
    await primary.execute("TRUNCATE t")
    begin = await primary.fetchval("SELECT pg_current_wal_lsn()")
    for batch in range(BURST_BATCHES):
        rows = [(batch * BURST_ROWS + i,) for i in range(BURST_ROWS)]
        await primary.executemany("INSERT INTO t VALUES ($1, repeat('x', 200))", rows)
    end = await primary.fetchval("SELECT pg_current_wal_lsn()")
    behind = await replica.fetchval("SELECT pg_wal_lsn_diff($1, pg_last_wal_replay_lsn())", end)
    start = time.perf_counter()
    while not await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", end):
        await asyncio.sleep(0.001)
    wal = await primary.fetchval("SELECT pg_wal_lsn_diff($1, $2)", end, begin)
    print(
        f"a burst of {BURST_BATCHES * BURST_ROWS:,} rows in {BURST_BATCHES} commits "
        f"({int(wal) / 1e6:.1f} MB of WAL): {int(behind):,} bytes behind at its last commit, "
        f"caught up {(time.perf_counter() - start) * 1000:.1f} ms later"
    )


async def measure(primary: PostgresCluster, replica: PostgresCluster) -> None:
    on_primary = await asyncpg.connect(host="127.0.0.1", port=primary.port, user="postgres")
    on_replica = await asyncpg.connect(host="127.0.0.1", port=replica.port, user="postgres")
    try:
        await on_primary.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        await visible_after_commit(on_primary, on_replica)
        await burst(on_primary, on_replica)
    finally:
        await on_primary.close()
        await on_replica.close()


def main() -> None:
    primary = PostgresCluster()
    replica: PostgresCluster | None = None
    try:
        started = time.perf_counter()
        primary.init()
        with open(primary.data / "postgresql.conf", "a") as conf:
            conf.write("fsync = on\n")  # the tests' clusters turn it off
        primary.start()
        replica = PostgresCluster()
        replica.replicate(primary)
        replica.start()
        print(f"primary and replica up in {time.perf_counter() - started:.2f} s")
        asyncio.run(measure(primary, replica))
    finally:
        if replica is not None:
            replica.close()
        primary.close()


if __name__ == "__main__":
    main()
