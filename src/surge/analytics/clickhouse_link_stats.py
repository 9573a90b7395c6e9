"""One link's stats from the ClickHouse click store in one statement: the series, its totals,
every breakdown's top values and the unique visitors, from the rollups below the watermark and
from raw clicks above it (surge.analytics.clickhouse_rollups' Split).

One statement, not one a figure: on ClickHouse 18.16 each statement over HTTP costs a floor of
its own, and each `FINAL` read of raw clicks reads at least the granules at the watermark
(docs/clickhouse.md, "Stats, measured"). The raw clicks are read once, unrolled by ARRAY JOIN
into (dimension, value) pairs; the rollups' rows are the same pairs already counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from surge.analytics.clickhouse_rollups import DAY_VISITORS, SERIES, Split
from surge.platform.clickhouse import literal

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US
# An answer row's dimension for a series slot: `#<epoch s>` for humans, `+<epoch s>` for bots
# (no breakdown's name starts with either): a dimension each, so LIMIT BY keeps them all.
HUMANS, BOTS = "#", "+"

COMBINED = "is_bot, referrer_host, country, device, browser, os, target, region, city"
RAW_COLUMNS = f"at_us, {COMBINED}"
Counts = tuple[dict[int, int], dict[bool, int], dict[str, list[tuple[str, int]]]]


@dataclass(frozen=True)
class Tables:
    clicks: str
    days: str  # click_rollups
    hours: str  # click_hour_rollups
    hour_visitors: str  # click_hour_visitors


def link_stats_sql(
    split: Split,
    tables: Tables,
    breakdowns: Mapping[str, str],
    *,
    hours: tuple[int, int],
    days: tuple[int, int],
    step_s: int,
    wanted: Sequence[str],
    visitors: str | None,
    limit: int,
) -> str:
    """The statement: rows (dimension, value, n), each series slot a dimension of its own
    (`#slot<s>:<is_bot>`), the visitors one row (`visitors`, ''), and at most `limit` values
    of each breakdown in `wanted`, most clicks first, ties by value.

    `hours`: the µs range the series counts (whole hours); `days`: the µs range breakdowns and
    visitors count (whole UTC days, always holding `hours`)."""
    step = step_s * US
    names = [SERIES, *breakdowns]
    values = ["toNullable(toString(is_bot))", *breakdowns.values()]
    counted = [SERIES, *wanted]
    in_hours = f"at_us >= {hours[0]} AND at_us < {hours[1]}"
    in_days = f"at_us >= {days[0]} AND at_us < {days[1]}"
    first_day, last_day = (f"toDate({days[0] // DAY_US})", f"toDate({days[1] // DAY_US - 1})")
    # Raw clicks: each distinct click once (FINAL, filtered on columns its copies share), the
    # months of the range alone (`day`: the partition key). A series pair counts in its slot.
    raw_clicks = (
        f"(SELECT {{columns}} FROM {tables.clicks} FINAL WHERE {split.raw} AND {in_days} "
        f"AND day >= {first_day} AND day <= {last_day})"
    )
    slot = f"if(dimension = {literal(SERIES)}, intDiv(%s, {step}) * {step_s}, 0) AS slot"
    in_series = f"dimension != {literal(SERIES)} OR ({in_hours.replace('at_us', 'hour_us')})"
    # Counted by hour and breakdown columns first: the clicks of an hour share few of those
    # combinations, so the ARRAY JOIN unrolls combinations, not clicks.
    raw = (
        f"SELECT dimension, assumeNotNull(value) AS label, {slot % 'hour_us'}, sum(c) AS n "
        f"FROM (SELECT intDiv(at_us, {HOUR_US}) * {HOUR_US} AS hour_us, {COMBINED}, "
        f"count() AS c FROM {raw_clicks.format(columns=RAW_COLUMNS)} "
        f"GROUP BY hour_us, {COMBINED}) "
        f"ARRAY JOIN [{', '.join(map(literal, names))}] AS dimension, "
        f"[{', '.join(values)}] AS value "
        f"WHERE value IS NOT NULL AND dimension IN {literal(counted)} AND ({in_series}) "
        f"AND (is_bot = 0 OR dimension = {literal(SERIES)}) "
        "GROUP BY dimension, label, slot"
    )
    # Rolled-up days (with their distinct visitors' rows) and hours: the same pairs, counted.
    sources = [
        (
            tables.days,
            f"{split.rolled} AND day_us >= {days[0]} AND day_us < {days[1]}",
            counted + ([DAY_VISITORS] if visitors else []),
        )
    ]
    if not split.hours_empty:
        where = f"{split.hours} AND hour_us >= {days[0]} AND hour_us < {days[1]}"
        sources.append((tables.hours, where, counted))
    parts = [
        f"SELECT dimension, value AS label, {slot % 'hour_us'}, sum(n) AS n "
        f"FROM (SELECT dimension, value, hour_us, n FROM {table} FINAL WHERE {where} "
        f"AND day >= {first_day} AND day <= {last_day} AND dimension IN {literal(kept)}) "
        f"WHERE {in_series} GROUP BY dimension, label, slot"
        for table, where, kept in sources
    ]
    # Parts with nothing to read are left out: each costs 18.16 several ms of CPU, empty.
    if not split.raw_empty:
        parts.append(raw)
    # Distinct visitors of the days not rolled up: the union of the set through their latest
    # sealed hour and their raw clicks' (sets merge exactly, counts do not).
    sets = []
    if split.visitor_hours != "0":
        sets.append(
            f"SELECT intDiv(hour_us, {DAY_US}) AS d, v FROM (SELECT hour_us, visitors "
            f"FROM {tables.hour_visitors} FINAL WHERE {split.visitor_hours} "
            f"AND hour_us >= {days[0]} AND hour_us < {days[1]} AND day >= {first_day} "
            f"AND day <= {last_day}) ARRAY JOIN visitors AS v"
        )
    if not split.raw_empty:
        sets.append(
            f"SELECT intDiv(at_us, {DAY_US}) AS d, sipHash128(visitor_id) AS v "
            f"FROM {raw_clicks.format(columns='at_us, is_bot, visitor_id')} "
            "WHERE is_bot = 0 AND visitor_id != ''"
        )
    if visitors and sets:
        parts.append(
            f"SELECT {literal(DAY_VISITORS)}, '', toInt64(0), uniqExact(v) FROM "
            f"({' UNION ALL '.join(sets)}) GROUP BY d"
        )
    answer = (
        f"multiIf(dimension = {literal(SERIES)}, "
        f"concat(if(label = '0', {literal(HUMANS)}, {literal(BOTS)}), toString(slot)), "
        f"dimension = {literal(DAY_VISITORS)}, {literal(visitors or '')}, dimension)"
    )
    return (
        f"SELECT {answer} AS dim, label AS lab, sum(n) AS total FROM "
        f"({' UNION ALL '.join(parts)}) GROUP BY dim, lab "
        f"HAVING total > 0 ORDER BY dim, total DESC, lab LIMIT {int(limit)} BY dim"
    )


def link_stats_counts(rows: Sequence[Sequence[Any]], dimensions: Sequence[str]) -> Counts:
    """The statement's rows as ClickStats' shapes: human clicks per slot, totals by is_bot,
    and each dimension's (value, clicks), most first. (A 90-day hourly series is 4,320 rows:
    read with as little per row as can be.)"""
    humans: dict[int, int] = {}
    bots = 0
    found: dict[str, list[tuple[str, int]]] = {d: [] for d in dimensions}
    for dimension, value, count in rows:
        n = int(count)  # a string where the engine quotes 64-bit integers (chdb's default)
        kind = dimension[0]
        if kind == HUMANS:
            humans[int(dimension[1:])] = n
        elif kind == BOTS:
            bots += n
        else:
            found[dimension].append((value, n))
    return humans, {False: sum(humans.values()), True: bots}, found
