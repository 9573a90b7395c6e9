"""The ClickHouse click store's tables, created by `surge migrate` (and analytics' start when it
migrates) when missing. Written for ClickHouse 18.16 and current releases alike: no DateTime64
(20.1), no TTL (19.6), so times are epoch microseconds and retention drops partitions.

`clicks` is a ReplacingMergeTree keyed by (link, time, click id): a click delivered again
(the stream is at-least-once) is the same key, kept once by merges; until a merge has run,
queries read `FINAL` so every figure counts it once already (docs/clickhouse.md).
"""

from __future__ import annotations

from surge.analytics.clickhouse_rollups import rollup_table
from surge.platform.clickhouse import ClickHouse


def statements(database: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"""CREATE TABLE IF NOT EXISTS {database}.clicks (
            link_id UInt64,
            at_us Int64,
            id String,
            day Date,
            referrer_host Nullable(String),
            country Nullable(String),
            device String,
            browser String,
            os String,
            is_bot UInt8,
            visitor_id String,
            target Nullable(String),
            region Nullable(String),
            city Nullable(String)
        ) ENGINE = ReplacingMergeTree()
        PARTITION BY toYYYYMM(day)
        ORDER BY (link_id, at_us, id)""",
        # Visits to no link (surge.data.orphans), the columns of the SQL `orphan_visits`.
        f"""CREATE TABLE IF NOT EXISTS {database}.orphan_visits (
            at_us Int64,
            id String,
            day Date,
            domain String,
            path String,
            kind String,
            referrer_host Nullable(String),
            country Nullable(String),
            region Nullable(String),
            city Nullable(String),
            device String,
            browser String,
            os String,
            is_bot UInt8,
            visitor_id String
        ) ENGINE = ReplacingMergeTree()
        PARTITION BY toYYYYMM(day)
        ORDER BY (at_us, id)""",
        # Each deletion of a link's visits (link 0: of the orphan visits): its clicks from
        # before `before_us` are not counted (queries read the latest), nor stored when late.
        f"""CREATE TABLE IF NOT EXISTS {database}.visit_deletions (
            link_id UInt64,
            before_us Int64
        ) ENGINE = MergeTree()
        ORDER BY link_id""",
        *rollup_table(database),
    ]


async def ensure_schema(clickhouse: ClickHouse) -> None:
    """Create the database and its tables where missing (idempotent, cheap: run at each start)."""
    for statement in statements(clickhouse.database):
        await clickhouse.execute(statement)
