"""What one click and one link cost in Redis and PostgreSQL, measured: the inputs of the worked
capacity plan in docs/capacity.md.

    python loadtests/footprint.py [--redis-url redis://127.0.0.1:6379/0]

- Redis: a stream entry as the redirect writes it (one packed batch of 500 realistic clicks),
  and a link-tier entry, sized with MEMORY USAGE under a throwaway key prefix, deleted after.
- PostgreSQL (when SURGE_DATABASE_URL points at one filled by `surge seed`): bytes per raw click
  (table and indexes, all partitions), rollup rows per click, and rollup writes per click
  (inserts + updates since the statistics were reset, so seed a fresh database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import uuid
from typing import Any

import asyncpg
from redis.asyncio import Redis

from surge.capacity.traffic import BROWSERS, COUNTRIES, REFERRERS
from surge.data.contracts import ResolvedLink
from surge.data.events import click_ids, click_row, pack_batch

BATCH = 500  # SURGE_CLICK_BATCH_SIZE's default: one stream entry
ENTRIES = 200


def batch(rng: random.Random) -> bytes:
    new_id = click_ids()
    return pack_batch(
        [
            click_row(
                id=new_id(),
                link_id=rng.randrange(1, 1_000_000),
                slug=f"{rng.getrandbits(40):x}"[:7],
                ts=1.79e9 + i / 1000,
                referrer=rng.choice(REFERRERS),
                user_agent=rng.choice(BROWSERS),
                country=rng.choice(COUNTRIES),
                visitor=uuid.uuid4().hex,  # the redirect's daily-salted hash: 32 hex digits
            )
            for i in range(BATCH)
        ]
    )


async def redis_figures(url: str) -> dict[str, float]:
    redis = Redis.from_url(url)
    prefix = f"surge-footprint-{uuid.uuid4().hex[:8]}:"
    rng = random.Random(1)
    try:
        packed = [batch(rng) for _ in range(ENTRIES)]
        for data in packed:
            await redis.xadd(f"{prefix}clicks", {"events": data})
        stream = await redis.memory_usage(f"{prefix}clicks", samples=0)
        link = ResolvedLink(
            link_id=123456,
            slug="aB3xY9q",
            url="https://example.com/landing/some-campaign?utm_source=newsletter",
            redirect_type=302,
            expires_at=None,
            max_clicks=None,
            clicks=0,
        )
        await redis.set(f"{prefix}link:aB3xY9q", link.model_dump_json().encode(), px=60_000)
        entry = await redis.memory_usage(f"{prefix}link:aB3xY9q", samples=0)
    finally:
        await redis.delete(f"{prefix}clicks", f"{prefix}link:aB3xY9q")
        await redis.aclose()
    return {
        "packed bytes per click": sum(map(len, packed)) / (ENTRIES * BATCH),
        "Redis bytes per stream entry (500 clicks)": stream / ENTRIES,
        "Redis bytes per click in the stream": stream / (ENTRIES * BATCH),
        "Redis bytes per cached link": float(entry or 0),
    }


# A partitioned table's size is its partitions' (the parent holds nothing); a plain table's
# own. Table, indexes and TOAST in both cases.
SIZES = """
SELECT coalesce(
    (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass)
     WHERE relid <> $1::regclass),
    pg_total_relation_size($1::regclass)
)
"""


async def postgres_figures(url: str) -> dict[str, float]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        clicks = await conn.fetchval("SELECT count(*) FROM clicks")
        if not clicks:
            return {}
        figures: dict[str, float] = {"clicks": clicks}
        for table in ("clicks", "hourly_clicks", "daily_breakdowns", "daily_visitors"):
            size = await conn.fetchval(SIZES, table)
            rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
            figures[f"{table} bytes per click"] = size / clicks
            figures[f"{table} rows per click"] = rows / clicks
        stats: Any = await conn.fetchrow(
            "SELECT sum(n_tup_ins + n_tup_upd) AS writes FROM pg_stat_user_tables "
            "WHERE relname IN ('hourly_clicks', 'daily_breakdowns')"
        )
        figures["rollup writes per click"] = (stats["writes"] or 0) / clicks
    finally:
        await conn.close()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    figures = await redis_figures(args.redis_url)
    database = os.environ.get("SURGE_DATABASE_URL", "")
    if database.startswith("postgresql"):
        figures |= await postgres_figures(database)
    for name, value in figures.items():
        print(f"{name:<45} {value:>14,.2f}")


if __name__ == "__main__":
    asyncio.run(main())
