"""The set-based ingest of a batch of clicks on PostgreSQL, as SQL.

The batch is COPYed into a temporary staging table (one per connection, emptied at commit);
one statement then inserts the clicks not stored before and, from exactly those rows, adds to
the hourly totals, the daily breakdowns and the daily unique-visitor counters. Every INSERT
feeds its rows in key order, so concurrent batches lock rows in one order and cannot deadlock.
The day of a click is its UTC date, and $1 / $2 are what a click without a referrer / a known
country counts as, as in `surge.analytics.repository` (which ingests this way on SQLite).
"""

from __future__ import annotations

STAGING_TABLE = "clicks_staging"

POSTGRES_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} (LIKE clicks) ON COMMIT DELETE ROWS"
)

POSTGRES_INGEST = f"""
WITH new AS (
    INSERT INTO clicks
    SELECT * FROM {STAGING_TABLE} ORDER BY id, occurred_at
    ON CONFLICT DO NOTHING
    RETURNING link_id, occurred_at, (occurred_at AT TIME ZONE 'UTC')::date AS day,
              referrer_host, country, device, browser, os, is_bot, visitor_id
), new_visitors AS (
    INSERT INTO daily_visitors (link_id, day, visitor_id)
    SELECT DISTINCT link_id, day, visitor_id FROM new WHERE NOT is_bot
    ORDER BY link_id, day, visitor_id
    ON CONFLICT DO NOTHING
    RETURNING link_id, day
), hourly AS (
    INSERT INTO hourly_clicks AS h (link_id, bucket, is_bot, clicks)
    SELECT link_id, date_trunc('hour', occurred_at, 'UTC'), is_bot, count(*)
    FROM new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (link_id, bucket, is_bot) DO UPDATE SET clicks = h.clicks + excluded.clicks
), daily AS (
    INSERT INTO daily_breakdowns AS d (link_id, dimension, day, value, is_bot, clicks)
    SELECT link_id, dimension, day, value, is_bot, count(*) FROM (
        SELECT n.link_id, v.dimension, n.day, v.value, n.is_bot
        FROM new n CROSS JOIN LATERAL (VALUES
            ('referrer', coalesce(n.referrer_host, $1)),
            ('country', coalesce(n.country, $2)),
            ('device', n.device),
            ('browser', n.browser),
            ('os', n.os)
        ) AS v (dimension, value)
        UNION ALL
        SELECT link_id, 'visitors', day, '', false FROM new_visitors
    ) AS counted
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (link_id, dimension, day, value, is_bot)
    DO UPDATE SET clicks = d.clicks + excluded.clicks
)
SELECT count(*) FROM new
"""
