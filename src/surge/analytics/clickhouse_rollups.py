"""Exact rollups of sealed UTC days and hours in the ClickHouse click store (ADR 0014, 0015).

A day is *sealed* once it ended `grace` ago. The roll-up job (analytics' rollup loop) rolls up
each sealed day *from `clicks FINAL`* (each distinct click once, whatever copies are on disk)
into `click_rollups`, then advances the watermark (`rollup_progress`): a link's stats read the
days below the watermark from the rollups and the rest from raw clicks.

`click_rollups` is a ReplacingMergeTree whose version is the (link, day)'s distinct clicks at
computation. A (link, day)'s clicks only grow, so a later computation sees a superset and a
higher or equal version: each row of it is at least the earlier one's, and FINAL keeps the
fuller one whatever the order the computations landed in, which process made them, or what
their clocks said. Equal versions mean the same clicks, so the same rows. Computations that
see fewer clicks than one stored (after a visit deletion's or retention's delete) are not
written at all.

Late clicks: a batch holding clicks of a day that ended more than grace/2 ago (by the ingesting
process's clock) re-rolls those (link, day) pairs itself after its insert and before its ack,
new clicks or not, so a redelivery after a crash re-rolls again. A click of a younger day is
seen by the job, which seals the day grace after its end: grace/2 covers the insert racing the
job and the clocks' skew.

Sealed hours (ADR 0015): the hours of the days not rolled up yet are sealed the same way,
`hour_grace` after their end, into `click_hour_rollups` (the same rows per (link, hour),
versioned by the hour's distinct clicks; its own watermark, `hour_rollup_progress`), so stats
read at most about an hour of raw clicks. A day's distinct visitors are not a sum of hours':
`click_hour_visitors` holds, per (link, hour), the set of the day's visitors through that hour,
versioned by the day's distinct clicks through it (which only grow, as above); a stats read
unites the set of each unrolled day's latest sealed hour with its raw tail's visitors. A late
click re-rolls its hour's rows and the sets of every later hour of its day that ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from surge.analytics.enrich import Click
from surge.platform.clickhouse import ClickHouse, literal

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US
GRACE = timedelta(hours=1)  # a day is rolled up once it ended this long ago
HOUR_GRACE = timedelta(minutes=10)  # an hour, once it ended this long ago (ADR 0015)
SERIES = "#series"  # rows of hourly clicks, value '0' (humans) or '1' (bots)
DAY_VISITORS = "#visitors"  # a row of the day's distinct human visitors


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)) // timedelta(microseconds=1)


# A rollup row's columns (click_rollups and click_hour_rollups): a count of one (link, day or
# hour, dimension, hour, value), versioned by the distinct clicks of its computation.
ROWS = """(
            link_id UInt64,
            day Date,
            day_us Int64,
            dimension String,
            hour_us Int64,
            value String,
            n UInt64,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)"""


def rollup_table(database: str) -> list[str]:
    """The tables' statements (surge.analytics.clickhouse_schema creates them)."""
    return [
        # Keyed by everything a row is of: FINAL keeps each key's highest version.
        f"""CREATE TABLE IF NOT EXISTS {database}.click_rollups {ROWS}
        PARTITION BY toYYYYMM(day)
        ORDER BY (link_id, day_us, dimension, hour_us, value)""",
        # Days before the highest `through_us` are rolled up (a row per day the job rolled).
        f"""CREATE TABLE IF NOT EXISTS {database}.rollup_progress (
            through_us Int64
        ) ENGINE = MergeTree()
        ORDER BY through_us""",
        # Sealed hours of the days not rolled up yet (ADR 0015): click_rollups' rows per
        # (link, hour), versioned by the hour's distinct clicks; no #visitors rows. A
        # partition a day, dropped once the day is rolled up.
        f"""CREATE TABLE IF NOT EXISTS {database}.click_hour_rollups {ROWS}
        PARTITION BY day
        ORDER BY (link_id, hour_us, dimension, value)""",
        # The set of the distinct human visitors of a day through each hour's end (a day's are
        # the union of its sealed hours' and its raw tail's: sets merge exactly, counts do
        # not), versioned by the day's distinct clicks through it. A set is an array of the
        # visitors' 128-bit hashes (what uniqExact counts a String by): a stats read opens
        # whole granules, and neighbours' arrays cost a copy where uniqExact states cost a
        # hash table each (~15 ms a read here); 4 rows a granule, not 8,192; a partition a
        # day, dropped when the day is rolled up.
        f"""CREATE TABLE IF NOT EXISTS {database}.click_hour_visitors (
            link_id UInt64,
            day Date,
            hour_us Int64,
            visitors Array(FixedString(16)),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        PARTITION BY day
        ORDER BY (link_id, hour_us)
        SETTINGS index_granularity = 4""",
        # Hours before the highest `through_us` are rolled up.
        f"""CREATE TABLE IF NOT EXISTS {database}.hour_rollup_progress (
            through_us Int64
        ) ENGINE = MergeTree()
        ORDER BY through_us""",
    ]


@dataclass(frozen=True)
class Split:
    """Where one link's stats read: `raw`, a filter of raw clicks (its cut-off applied, hours
    not rolled up); `rolled`, a filter of `click_rollups` (days rolled up, after the day of its
    latest visit deletion, whose rollups still hold the deleted clicks); `hours`, of the hour
    tables (hours rolled up of the days after those, and after that day)."""

    raw: str
    rolled: str
    hours: str  # of click_hour_rollups: sealed hours of days not rolled up, after the cut-off
    visitor_hours: str  # of click_hour_visitors: each such day's latest sealed hour ("0": none)
    raw_empty: bool = False  # no raw click can match `raw`: a statement need not read them
    hours_empty: bool = False  # no hour is sealed after the rolled-up days


class ClickRollups:
    def __init__(
        self,
        clickhouse: ClickHouse,
        breakdowns: Mapping[str, str],
        grace: timedelta = GRACE,
        hour_grace: timedelta = HOUR_GRACE,
    ) -> None:
        """`breakdowns`: what each breakdown counts a click as (an expression, NULL: not
        counted), as stats read raw clicks."""
        self.ch = clickhouse
        self.breakdowns = breakdowns
        self.grace = grace
        self.hour_grace = hour_grace
        database = clickhouse.database
        self.table = f"{database}.click_rollups"
        self.progress = f"{database}.rollup_progress"
        self.hour_table = f"{database}.click_hour_rollups"
        self.hour_visitors = f"{database}.click_hour_visitors"
        self.hour_progress = f"{database}.hour_rollup_progress"
        self.clicks = f"{database}.clicks"
        self.deletions = f"{database}.visit_deletions"

    async def split(self, link_id: int) -> Split:
        """The link's cut-off and the watermarks, read first in a statement of their own: as
        scalar subqueries of the stats statement they cost 18.16 more than the round trip
        (each occurrence evaluated, ~12 ms a request on this machine: docs/clickhouse.md);
        as constants the key and the partition key narrow the reads all the same."""
        days_sql = f"(SELECT max(through_us) FROM {self.progress})"
        raw_from_sql = f"greatest({days_sql}, (SELECT max(through_us) FROM {self.hour_progress}))"
        # And whether the link has raw clicks from there (copies or not: a key range, no
        # FINAL): empty parts of the stats statement cost 18.16 several ms of CPU each.
        ((cut, days, raw_from, raw_clicks),) = await self.ch.rows(
            f"SELECT (SELECT max(before_us) FROM {self.deletions} WHERE link_id = {link_id}), "
            f"{days_sql}, {raw_from_sql}, (SELECT count() FROM {self.clicks} "
            f"WHERE link_id = {link_id} AND at_us >= {raw_from_sql} "
            f"AND day >= toDate(intDiv({raw_from_sql}, {DAY_US})))"
        )
        cut, days, raw_from = int(cut), int(days), int(raw_from)
        # No raw part: no deletion's day to read raw and no click at or after raw_from.
        raw_empty = cut == 0 and int(raw_clicks) == 0
        # The day after the cut-off's (0 when none): the first whose rollups hold no deleted click.
        after_cut_day = -(-cut // DAY_US) * DAY_US
        # `day` (the partition key) bounded too: a bound on `at_us` alone opens every month's
        # parts, and FINAL reads the granules at the bound in each (docs/clickhouse.md).
        first_hour = max(days, after_cut_day)
        latest = [min(raw_from, day + DAY_US) - HOUR_US for day in range(days, raw_from, DAY_US)]
        latest = [hour for hour in latest if hour >= first_hour]
        return Split(
            raw=f"link_id = {link_id} AND at_us >= {cut} "
            f"AND ((at_us >= {raw_from} AND day >= {_date_of(raw_from)}) "
            f"OR (at_us < {after_cut_day} AND day < {_date_of(after_cut_day)}))",
            rolled=f"link_id = {link_id} AND day_us >= {after_cut_day} AND day_us < {days}",
            hours=f"link_id = {link_id} AND hour_us >= {first_hour} AND hour_us < {raw_from}",
            visitor_hours=f"link_id = {link_id} AND hour_us IN ({', '.join(map(str, latest))})"
            if latest
            else "0",
            raw_empty=raw_empty,
            hours_empty=first_hour >= raw_from,
        )

    def rows_of(self, columns: str, where: str, table: str = "") -> str:
        """Rollup rows matching `where` (key columns only), each key's fullest computation, of
        click_rollups or `table`."""
        return f"(SELECT {columns} FROM {table or self.table} FINAL WHERE {where})"

    # --- the job -------------------------------------------------------------------------------

    async def roll_up(self, now: datetime) -> list[int]:
        """Roll up every sealed day from the watermark (or the first click) on, a calendar
        month a statement (what one partition holds: the table's key starts with the link, so
        all links' clicks of a day are no narrower a read than their month's), advancing the
        watermark after each; then the sealed hours after the days'. The days with clicks
        rolled (µs). Idempotent, and safe to run in several processes at once: each writes
        the same rows or fuller ones, and moves a watermark only past rows it wrote."""
        sealed = (_us(now - self.grace) // DAY_US) * DAY_US
        (through, clicks, first), *_ = await self.ch.rows(
            f"SELECT (SELECT max(through_us) FROM {self.progress}), "
            f"(SELECT count() FROM {self.clicks}), (SELECT min(day) FROM {self.clicks})"
        )
        start = int(through)
        if not start:
            start = _day_us(date.fromisoformat(first)) if int(clicks) else sealed
        rolled: list[int] = []
        moved = int(through)
        while start < sealed:
            moved = min(sealed, _next_month(start))
            rolled += await self.roll(start, moved)
            await self.ch.insert(self.progress, [{"through_us": moved}])
            start = moved
        if moved < sealed:  # no clicks yet: sealed all the same (late ones re-roll)
            await self.ch.insert(self.progress, [{"through_us": sealed}])
        await self._roll_hours_up(now, max(sealed, int(through)))
        return rolled

    async def _roll_hours_up(self, now: datetime, days_through: int) -> None:
        """Roll up the sealed hours from the hour watermark, or the day watermark when that is
        later (hours of rolled-up days are not read), in one statement, then advance it."""
        sealed = _us(now - self.hour_grace) // HOUR_US * HOUR_US
        ((through,),) = await self.ch.rows(f"SELECT max(through_us) FROM {self.hour_progress}")
        start = max(int(through), days_through)
        if start < sealed:
            await self.roll(start, sealed, unit=HOUR_US)
            await self._roll_hour_visitors(start, sealed)
        if sealed > int(through):
            await self.ch.insert(self.hour_progress, [{"through_us": sealed}])
        await self._drop_hours_before(days_through - DAY_US)

    async def reroll_late(self, batch: Iterable[Click], now: datetime) -> None:
        """Re-roll the (link, day) pairs of the batch's clicks whose day ended grace/2 ago or
        more, and the hours of its links (of days not rolled up) from its first click's whose
        hour ended hour_grace/2 ago or more to its last's, with the visitor sets of every hour
        after those that ended: the job may have sealed them before the insert was visible."""
        latest = _us(now - self.grace / 2) - DAY_US
        latest_hour = _us(now - self.hour_grace / 2) - HOUR_US
        days: dict[int, set[int]] = defaultdict(set)
        hours: dict[int, set[int]] = defaultdict(set)
        for click in batch:
            at = _us(click.occurred_at)
            if at // DAY_US * DAY_US <= latest:
                days[at // DAY_US * DAY_US].add(click.link_id)
            if at // HOUR_US * HOUR_US <= latest_hour:
                hours[at // HOUR_US * HOUR_US].add(click.link_id)
        for day, link_ids in sorted(days.items()):
            await self.roll(day, day + DAY_US, sorted(link_ids))
        if hours:  # not the hours of rolled-up days: never read (and months of them, copied)
            ((through,),) = await self.ch.rows(f"SELECT max(through_us) FROM {self.progress}")
            hours = defaultdict(set, {h: ids for h, ids in hours.items() if h >= int(through)})
        if hours:  # one statement: a lagging consumer's batches hold clicks of many hours
            links = sorted(set().union(*hours.values()))
            await self.roll(min(hours), max(hours) + HOUR_US, links, unit=HOUR_US)
            # The sets of the hours after a late click's hold its visitor too: every hour that
            # ended, to the end of its day.
            ended = _us(now) // HOUR_US * HOUR_US
            await self._roll_hour_visitors(min(hours), ended, links)

    async def roll(
        self, first: int, end: int, link_ids: Sequence[int] | None = None, unit: int = DAY_US
    ) -> list[int]:
        """Compute the rollups of the links (all for None) over [first, end) in one read of
        their distinct clicks, a row set per (link, day) into click_rollups, or (`unit`
        HOUR_US) per (link, hour) into click_hour_rollups and click_hour_visitors; store those
        fuller than what is stored; the days (hours) with clicks."""
        where = (
            f"day >= {literal(_iso_day(first))} AND day <= {literal(_iso_day(end - 1))} "
            f"AND at_us >= {first} AND at_us < {end}"
        )
        if link_ids is not None:
            where += f" AND link_id IN {literal(list(link_ids))}"
        days = unit == DAY_US
        names = [SERIES, *([DAY_VISITORS] if days else []), *self.breakdowns]
        values = [
            "toNullable(toString(is_bot))",
            *(["if(visitor_id != '', '', NULL)"] if days else []),
            *self.breakdowns.values(),
        ]
        rows = await self.ch.rows(
            f"SELECT link_id, intDiv(at_us, {unit}) * {unit} AS bucket, "
            f"intDiv(at_us, {DAY_US}) * {DAY_US} AS day_start, dimension, "
            f"if(dimension = {literal(SERIES)}, intDiv(at_us, {HOUR_US}) * {HOUR_US}, "
            "bucket) AS hour, assumeNotNull(value) AS label, count() AS n, "
            f"uniqExactIf(visitor_id, dimension = {literal(DAY_VISITORS)}) AS visitors "
            f"FROM (SELECT * FROM {self.clicks} FINAL WHERE {where}) "
            f"ARRAY JOIN [{', '.join(map(literal, names))}] AS dimension, "
            f"[{', '.join(values)}] AS value "
            f"WHERE value IS NOT NULL AND (is_bot = 0 OR dimension = {literal(SERIES)}) "
            "GROUP BY link_id, bucket, day_start, dimension, hour, label"
        )
        computed: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        versions: dict[tuple[int, int], int] = defaultdict(int)
        for link_id, bucket, day, dimension, hour, label, n, visitors in rows:
            key = (int(link_id), int(bucket))
            if dimension == SERIES:
                versions[key] += int(n)
            computed[key].append(
                {
                    "link_id": key[0],
                    "day": _iso_day(int(day)),
                    "day_us": int(day),
                    "dimension": dimension,
                    "hour_us": int(hour),
                    "value": label,
                    "n": int(visitors) if dimension == DAY_VISITORS else int(n),
                }
            )
        table, column = (self.table, "day_us") if days else (self.hour_table, "hour_us")
        stored = await self._versions(table, column, first, end, link_ids)
        fuller = [
            {**row, "version": versions[key]}
            for key, key_rows in computed.items()
            if versions[key] > stored.get(key, 0)
            for row in key_rows
        ]
        await self.ch.insert(table, fuller)
        return sorted({bucket for _, bucket in computed})

    async def _roll_hour_visitors(
        self, first: int, end: int, link_ids: Sequence[int] | None = None
    ) -> None:
        """For each hour of [first, end) and each link with clicks that day before its end,
        the set of the day's distinct human visitors through it, from the day's start:
        computed on the server (a set is not a number to carry), versioned by the day's
        distinct clicks through the hour, counted in the same read. All are written: one row
        a key, so FINAL keeps the fullest, whatever order they land in."""
        if first >= end:
            return
        start = first // DAY_US * DAY_US
        where = (
            f"day >= {literal(_iso_day(start))} AND day <= {literal(_iso_day(end - 1))} "
            f"AND at_us >= {start} AND at_us < {end}"
        )
        if link_ids is not None:
            where += f" AND link_id IN {literal(list(link_ids))}"
        hours = ", ".join(map(str, range(first, end, HOUR_US)))
        # A click is in the sets of the hours from its own to its day's last (a filter after
        # the ARRAY JOIN: 18.16's lambdas do not see columns).
        await self.ch.execute(
            f"INSERT INTO {self.hour_visitors} (link_id, day, hour_us, visitors, version) "
            f"SELECT link_id, toDate(intDiv(hour, {DAY_US})), hour, "
            "groupUniqArrayIf(sipHash128(visitor_id), is_bot = 0 AND visitor_id != ''), "
            "count() "
            f"FROM (SELECT link_id, at_us, is_bot, visitor_id FROM {self.clicks} FINAL "
            f"WHERE {where}) ARRAY JOIN [{hours}] AS hour "
            f"WHERE hour >= intDiv(at_us, {HOUR_US}) * {HOUR_US} "
            f"AND hour < intDiv(at_us, {DAY_US}) * {DAY_US} + {DAY_US} GROUP BY link_id, hour"
        )

    async def _drop_hours_before(self, before: int) -> None:
        """Drop the hour tables' days before `before` (µs): rolled up, never read again."""
        rows = await self.ch.rows(
            "SELECT DISTINCT table, partition_id FROM system.parts WHERE active "
            f"AND database = {literal(self.ch.database)} "
            "AND table IN ('click_hour_rollups', 'click_hour_visitors')"
        )
        for table, partition in rows:  # a day's partition id: YYYYMMDD
            day = date(int(partition[:4]), int(partition[4:6]), int(partition[6:8]))
            if len(partition) == 8 and _day_us(day) < before:
                await self.ch.execute(
                    f"ALTER TABLE {self.ch.database}.{table} DROP PARTITION ID {literal(partition)}"
                )

    async def _versions(
        self, table: str, column: str, first: int, end: int, link_ids: Sequence[int] | None
    ) -> dict[tuple[int, int], int]:
        """(link, day or hour) → the highest version stored of its rollups in [first, end)."""
        where = f"{column} >= {first} AND {column} < {end}"
        if link_ids is not None:
            where += f" AND link_id IN {literal(list(link_ids))}"
        rows = await self.ch.rows(
            f"SELECT link_id, {column}, max(version) FROM {table} WHERE {where} "
            f"GROUP BY link_id, {column}"
        )
        return {(int(link_id), int(bucket)): int(version) for link_id, bucket, version in rows}


def _date_of(us: int) -> str:
    """The UTC date of a time in µs, as a Date (a day number converts to one on 18.16 and
    current servers alike)."""
    return f"toDate({us // DAY_US})"


def _day_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_US


def _next_month(day_us: int) -> int:
    """The start of the calendar month after the one `day_us` falls in (µs)."""
    day = date(1970, 1, 1) + timedelta(microseconds=day_us)
    return _day_us(date(day.year + day.month // 12, day.month % 12 + 1, 1))


def _iso_day(day_us: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(microseconds=day_us)).date().isoformat()
