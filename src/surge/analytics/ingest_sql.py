"""The set-based ingest of a batch of clicks on PostgreSQL, as SQL.

The batch is COPYed into a temporary staging table (one per connection, emptied at commit);
one statement then inserts the clicks not stored before and, from exactly those rows, adds to
the hourly totals, the daily breakdowns and the daily unique-visitor counters. A click's
target (set only for links with redirect rules), region and city (set only where GeoIP located
it) are breakdowns only where they are set. Every INSERT
feeds its rows in key order, so concurrent batches lock rows in one order and cannot deadlock.
The day of a click is its UTC date, and $1 / $2 are what a click without a referrer / a known
country counts as, as in `surge.analytics.repository` (which ingests this way on SQLite).
"""

from __future__ import annotations

STAGING_TABLE = "clicks_staging"
GROUPED_TABLE = "clicks_grouped"  # SQLite's: the new clicks grouped as the breakdowns count them


def region_label(row: str) -> str:
    """A region as a breakdown shows it, with its country: "Limburg, NL" and "Limburg, BE" are
    two regions. NULL where the click has no region. `row`: the alias of the row's table."""
    return f"substr({row}.region || coalesce(', ' || {row}.country, ''), 1, 255)"


def city_label(row: str) -> str:
    """A city with its region and country: "Springfield, Illinois, US" is not the Missouri one."""
    return (
        f"substr({row}.city || coalesce(', ' || {row}.region, '') "
        f"|| coalesce(', ' || {row}.country, ''), 1, 255)"
    )


POSTGRES_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} (LIKE clicks) ON COMMIT DELETE ROWS"
)

# Every ingest holds this advisory lock shared, a deletion of visits holds it alone: a batch
# is counted wholly before a deletion or wholly after it, never half-deleted (~2 µs a batch).
VISITS_LOCK = 0x5355524745  # "SURGE"
POSTGRES_INGEST_LOCK = f"SELECT pg_advisory_xact_lock_shared({VISITS_LOCK})"
POSTGRES_DELETION_LOCK = f"SELECT pg_advisory_xact_lock({VISITS_LOCK})"

POSTGRES_INGEST = f"""
WITH new AS (
    INSERT INTO clicks
    SELECT * FROM {STAGING_TABLE} AS s
    WHERE NOT EXISTS (
        SELECT 1 FROM visit_deletions AS d
        WHERE d.link_id = s.link_id AND s.occurred_at < d.before
    )
    ORDER BY id, occurred_at
    ON CONFLICT DO NOTHING
    RETURNING id, link_id, occurred_at, (occurred_at AT TIME ZONE 'UTC')::date AS day,
              referrer_host, country, device, browser, os, is_bot, visitor_id, target,
              region, city
), new_visitors AS (
    INSERT INTO daily_visitors (link_id, day, visitor_id)
    SELECT DISTINCT link_id, day, visitor_id FROM new WHERE NOT is_bot AND visitor_id <> ''
    ORDER BY link_id, day, visitor_id
    ON CONFLICT DO NOTHING
    RETURNING link_id, day
), hourly AS (
    INSERT INTO hourly_clicks AS h (link_id, bucket, is_bot, clicks)
    SELECT link_id, date_trunc('hour', occurred_at, 'UTC'), is_bot, count(*)
    FROM new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (link_id, bucket, is_bot) DO UPDATE SET clicks = h.clicks + excluded.clicks
), grouped AS (
    -- The new clicks by everything a breakdown counts, once: each breakdown then reads these
    -- groups (a viral link's batch is a handful), not every click eight times over.
    SELECT link_id, day, is_bot, referrer_host, country, device, browser, os, target,
           region, city, count(*) AS n
    FROM new GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
), daily AS (
    INSERT INTO daily_breakdowns AS d (link_id, dimension, day, value, is_bot, clicks)
    SELECT link_id, dimension, day, value, is_bot, sum(n)::bigint FROM (
        SELECT g.link_id, v.dimension, g.day, v.value, g.is_bot, g.n
        FROM grouped g CROSS JOIN LATERAL (VALUES
            ('referrer', coalesce(g.referrer_host, $1)),
            ('country', coalesce(g.country, $2)),
            ('device', g.device),
            ('browser', g.browser),
            ('os', g.os),
            ('target', g.target),
            ('region', {region_label("g")}),
            ('city', {city_label("g")})
        ) AS v (dimension, value)
        WHERE v.value IS NOT NULL
        UNION ALL
        SELECT link_id, 'visitors', day, '', false, 1 FROM new_visitors
    ) AS counted
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (link_id, dimension, day, value, is_bot)
    DO UPDATE SET clicks = d.clicks + excluded.clicks
)
SELECT count(*) FROM new
"""
# The same, answering the new clicks' ids (for the webhooks that take clicks: only those).
POSTGRES_INGEST_NEW_IDS = POSTGRES_INGEST.replace("SELECT count(*) FROM new", "SELECT id FROM new")


# --- SQLite ------------------------------------------------------------------------------------
# The same set-based ingest as a short script in one transaction (SQLite has no data-modifying
# CTEs, but one writer at a time: nothing can change between the statements). The rows reach
# the staging table by executemany, which sqlite3 runs in C; every statement after that runs in
# aiosqlite's thread with the GIL released, so the event loop (which, in the all-in-one process,
# also serves redirects) stays free while a batch is ingested. Times are naive UTC text as
# SQLAlchemy stores them ("YYYY-MM-DD HH:MM:SS.ffffff"); days are "YYYY-MM-DD".

# The transaction holds SQLite's write lock from its start (surge.platform.db.transaction).
SQLITE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} (id, link_id, occurred_at, "
    "referrer_host, country, device, browser, os, is_bot, visitor_id, target, region, city)",
    "CREATE TEMPORARY TABLE IF NOT EXISTS visitors_staging (link_id, day, visitor_id)",
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {GROUPED_TABLE} (link_id, day, is_bot, "
    "referrer_host, country, device, browser, os, target, region, city, n)",
    f"DELETE FROM {STAGING_TABLE}",
    "DELETE FROM visitors_staging",
    f"DELETE FROM {GROUPED_TABLE}",
)
SQLITE_STAGE = f"INSERT INTO {STAGING_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Keep only what is new: the first copy of each click in the batch, none stored before, and
# none of a link whose visits were deleted after it happened.
SQLITE_KEEP_NEW = (
    f"DELETE FROM {STAGING_TABLE} WHERE rowid NOT IN "
    f"(SELECT min(rowid) FROM {STAGING_TABLE} GROUP BY id, occurred_at)",
    f"DELETE FROM {STAGING_TABLE} WHERE EXISTS (SELECT 1 FROM clicks AS c "
    f"WHERE c.id = {STAGING_TABLE}.id AND c.occurred_at = {STAGING_TABLE}.occurred_at)",
    f"DELETE FROM {STAGING_TABLE} WHERE EXISTS (SELECT 1 FROM visit_deletions AS d "
    f"WHERE d.link_id = {STAGING_TABLE}.link_id AND {STAGING_TABLE}.occurred_at < d.before)",
)
SQLITE_COUNT_NEW = f"SELECT count(*) FROM {STAGING_TABLE}"
SQLITE_NEW_IDS = f"SELECT id FROM {STAGING_TABLE}"
# Then store the new clicks, their new visitors and the hourly totals (breakdowns below).
SQLITE_STORE = (
    f"INSERT INTO clicks SELECT * FROM {STAGING_TABLE}",
    "INSERT INTO visitors_staging SELECT DISTINCT s.link_id, date(s.occurred_at), s.visitor_id "
    f"FROM {STAGING_TABLE} AS s WHERE NOT s.is_bot AND s.visitor_id <> '' "
    "AND NOT EXISTS (SELECT 1 FROM daily_visitors AS v WHERE v.link_id = s.link_id "
    "AND v.day = date(s.occurred_at) AND v.visitor_id = s.visitor_id)",
    "INSERT INTO daily_visitors (link_id, day, visitor_id) SELECT * FROM visitors_staging",
    # WHERE true: without it SQLite would read ON CONFLICT as part of the SELECT's join.
    "INSERT INTO hourly_clicks (link_id, bucket, is_bot, clicks) "
    "SELECT link_id, strftime('%Y-%m-%d %H:00:00.000000', occurred_at), is_bot, count(*) "
    f"FROM {STAGING_TABLE} WHERE true GROUP BY 1, 2, 3 "
    "ON CONFLICT (link_id, bucket, is_bot) DO UPDATE SET clicks = clicks + excluded.clicks",
)
# The new clicks by everything a breakdown counts, once (as `grouped` on PostgreSQL): each
# breakdown then reads the groups, not every click; 4.3 -> 1.3 µs a click in a batch of 5,000
# of one link.
SQLITE_GROUP = (
    f"INSERT INTO {GROUPED_TABLE} SELECT link_id, date(occurred_at), is_bot, referrer_host, "
    f"country, device, browser, os, target, region, city, count(*) FROM {STAGING_TABLE} "
    "WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
)
SQLITE_BREAKDOWNS = (
    "INSERT INTO daily_breakdowns (link_id, day, dimension, value, is_bot, clicks) "
    "SELECT link_id, day, dimension, value, is_bot, sum(n) FROM ("
    f"SELECT link_id, day, 'referrer' AS dimension, coalesce(referrer_host, ?) AS value, "
    f"is_bot, n FROM {GROUPED_TABLE} "
    f"UNION ALL SELECT link_id, day, 'country', coalesce(country, ?), is_bot, n "
    f"FROM {GROUPED_TABLE} "
    f"UNION ALL SELECT link_id, day, 'device', device, is_bot, n FROM {GROUPED_TABLE} "
    f"UNION ALL SELECT link_id, day, 'browser', browser, is_bot, n FROM {GROUPED_TABLE} "
    f"UNION ALL SELECT link_id, day, 'os', os, is_bot, n FROM {GROUPED_TABLE} "
    f"UNION ALL SELECT link_id, day, 'target', target, is_bot, n FROM {GROUPED_TABLE} "
    "WHERE target IS NOT NULL "
    f"UNION ALL SELECT link_id, day, 'region', {region_label(GROUPED_TABLE)}, is_bot, n "
    f"FROM {GROUPED_TABLE} WHERE region IS NOT NULL "
    f"UNION ALL SELECT link_id, day, 'city', {city_label(GROUPED_TABLE)}, is_bot, n "
    f"FROM {GROUPED_TABLE} WHERE city IS NOT NULL "
    "UNION ALL SELECT link_id, day, 'visitors', '', 0, 1 FROM visitors_staging"
    ") WHERE true GROUP BY 1, 2, 3, 4, 5 "
    "ON CONFLICT (link_id, day, dimension, value, is_bot) "
    "DO UPDATE SET clicks = clicks + excluded.clicks"
)
