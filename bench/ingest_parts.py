"""Where a click's ingest goes on the embedded default, part by part (CPU µs a click).

In-process, no servers: a batch of redirect-shaped clicks (one link, one browser, one address)
through each part alone: unpacking the batch's JSON into events, enrichment, and each statement
of the SQLite ingest (surge.analytics.ingest_sql) on a temporary database that grows from empty,
one transaction a batch as the service runs it. CPU time (`time.process_time`), so a busy
machine inflates the figures less than wall time; compare parts within one run.

    uv run --frozen python bench/ingest_parts.py [--batches 20] [--size 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from surge.analytics.enrich import EVERYTHING, Click, enrich
from surge.analytics.geoip import nowhere
from surge.analytics.ingest_sql import (
    SQLITE_BREAKDOWNS,
    SQLITE_COUNT_NEW,
    SQLITE_GROUP,
    SQLITE_KEEP_NEW,
    SQLITE_STAGE,
    SQLITE_STAGING,
    SQLITE_STORE,
)
from surge.analytics.repository import sqlite_rows
from surge.data.events import ClickEvent, click_ids, pack_batch, unpack_batch
from surge.data.visitors import VisitorHasher
from surge.platform.db import create_engine
from surge.platform.migrations import upgrade_to_head

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


class Parts:
    """CPU µs a click of each part, summed over batches and averaged."""

    def __init__(self, batches: int, size: int) -> None:
        self.batches, self.size = batches, size
        self.us: dict[str, float] = {}

    def run(self, name: str, part: Callable[..., Any], *args: Any) -> Any:
        start = time.process_time()
        done = part(*args)
        spent = (time.process_time() - start) / self.size * 1e6 / self.batches
        self.us[name] = self.us.get(name, 0.0) + spent
        return done


def enrich_all(events: Sequence[ClickEvent], hasher: VisitorHasher) -> list[Click]:
    return [enrich(event, nowhere, EVERYTHING, hasher) for event in events]


def statements(db: sqlite3.Connection, *sql: str) -> None:
    for statement in sql:
        db.execute(statement)


def breakdowns(db: sqlite3.Connection) -> None:
    db.execute(SQLITE_GROUP)
    db.execute(SQLITE_BREAKDOWNS, ("direct", "unknown"))


def ingest(db: sqlite3.Connection, parts: Parts, packed: bytes, hasher: VisitorHasher) -> None:
    events = parts.run("unpack the batch (JSON to events)", unpack_batch, packed)
    clicks = parts.run("enrich (visitor id, agent, place)", enrich_all, events, hasher)
    rows = parts.run("rows for SQLite", sqlite_rows, clicks)
    db.execute("BEGIN IMMEDIATE")
    statements(db, *SQLITE_STAGING)
    parts.run("SQL: stage the batch", db.executemany, SQLITE_STAGE, rows)
    parts.run("SQL: keep the new clicks", statements, db, *SQLITE_KEEP_NEW, SQLITE_COUNT_NEW)
    parts.run("SQL: store clicks, visitors, hours", statements, db, *SQLITE_STORE)
    parts.run("SQL: breakdowns", breakdowns, db)
    parts.run("SQL: commit", db.execute, "COMMIT")


async def migrated(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=5000)
    args = parser.parse_args(argv)
    new_id, hasher = click_ids(), VisitorHasher("bench-" * 6)
    parts = Parts(args.batches, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        asyncio.run(migrated(path))
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        ts = 1.79e9
        for _ in range(args.batches):
            rows = []
            for _ in range(args.size):
                ts += 1e-3
                rows.append((new_id(), 1, "bench", ts, None, UA, None, None, None, "10.0.0.1"))
            ingest(db, parts, pack_batch(rows), hasher)
        db.close()
    print(f"{args.batches} batches of {args.size:,} clicks of one link, CPU µs a click:")
    for name, us in parts.us.items():
        print(f"  {name:38s} {us:6.2f}")
    print(f"  {'all':38s} {sum(parts.us.values()):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
