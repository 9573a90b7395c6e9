"""Exact rollups of sealed UTC days in the ClickHouse click store (ADR 0013, docs/clickhouse.md).

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
SERIES = "#series"  # rows of hourly clicks, value '0' (humans) or '1' (bots)
DAY_VISITORS = "#visitors"  # a row of the day's distinct human visitors


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)) // timedelta(microseconds=1)


def rollup_table(database: str) -> list[str]:
    """The tables' statements (surge.analytics.clickhouse_schema creates them)."""
    return [
        # Keyed by everything a row is of: FINAL keeps each key's highest version.
        f"""CREATE TABLE IF NOT EXISTS {database}.click_rollups (
            link_id UInt64,
            day Date,
            day_us Int64,
            dimension String,
            hour_us Int64,
            value String,
            n UInt64,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        PARTITION BY toYYYYMM(day)
        ORDER BY (link_id, day_us, dimension, hour_us, value)""",
        # Days before the highest `through_us` are rolled up (a row per day the job rolled).
        f"""CREATE TABLE IF NOT EXISTS {database}.rollup_progress (
            through_us Int64
        ) ENGINE = MergeTree()
        ORDER BY through_us""",
    ]


@dataclass(frozen=True)
class Split:
    """Where one link's stats read: `raw`, a filter of raw clicks (its cut-off applied, days
    not rolled up); `rolled`, a filter of `click_rollups` (days rolled up, after the day of its
    latest visit deletion, whose rollups still hold the deleted clicks)."""

    raw: str
    rolled: str


class ClickRollups:
    def __init__(
        self, clickhouse: ClickHouse, breakdowns: Mapping[str, str], grace: timedelta = GRACE
    ) -> None:
        """`breakdowns`: what each breakdown counts a click as (an expression, NULL: not
        counted), as stats read raw clicks."""
        self.ch = clickhouse
        self.breakdowns = breakdowns
        self.grace = grace
        database = clickhouse.database
        self.table = f"{database}.click_rollups"
        self.progress = f"{database}.rollup_progress"
        self.clicks = f"{database}.clicks"
        self.deletions = f"{database}.visit_deletions"

    def split(self, link_id: int) -> Split:
        """The link's cut-off and the watermark are scalar subqueries of the statement (no
        round trip of their own): the server reads them first, so the key still narrows the
        reads to the link's raw days and rollups."""
        cut = f"(SELECT max(before_us) FROM {self.deletions} WHERE link_id = {link_id})"
        through = f"(SELECT max(through_us) FROM {self.progress})"
        # The day after the cut-off's (0 when none): the first whose rollups hold no deleted click.
        after_cut_day = f"((intDiv({cut} + {DAY_US} - 1, {DAY_US})) * {DAY_US})"
        # `day` (the partition key) bounded too: a bound on `at_us` alone opens every month's
        # parts, and FINAL reads the granules at the bound in each (docs/clickhouse.md).
        return Split(
            raw=f"link_id = {link_id} AND at_us >= {cut} "
            f"AND ((at_us >= {through} AND day >= {_date_of(through)}) "
            f"OR (at_us < {after_cut_day} AND day < {_date_of(after_cut_day)}))",
            rolled=f"link_id = {link_id} AND day_us >= {after_cut_day} AND day_us < {through}",
        )

    def rows_of(self, columns: str, where: str) -> str:
        """Rollup rows matching `where` (key columns only), each key's fullest computation."""
        return f"(SELECT {columns} FROM {self.table} FINAL WHERE {where})"

    # --- the job -------------------------------------------------------------------------------

    async def roll_up(self, now: datetime) -> list[int]:
        """Roll up every sealed day from the watermark (or the first click) on, a calendar
        month a statement (what one partition holds: the table's key starts with the link, so
        all links' clicks of a day are no narrower a read than their month's), advancing the
        watermark after each; the days with clicks rolled (µs). Idempotent, and safe to run in
        several processes at once: each writes the same rows or fuller ones, and moves the
        watermark only past rows it wrote."""
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
        return rolled

    async def reroll_late(self, batch: Iterable[Click], now: datetime) -> None:
        """Re-roll the (link, day) pairs of the batch's clicks whose day ended grace/2 ago or
        more: the job may have sealed it before their insert was visible."""
        latest = _us(now - self.grace / 2) - DAY_US
        days: dict[int, set[int]] = defaultdict(set)
        for click in batch:
            day = _us(click.occurred_at) // DAY_US * DAY_US
            if day <= latest:
                days[day].add(click.link_id)
        for day, link_ids in sorted(days.items()):
            await self.roll(day, day + DAY_US, sorted(link_ids))

    async def roll(self, first: int, end: int, link_ids: Sequence[int] | None = None) -> list[int]:
        """Compute the rollups of the links (all for None) over the days [first, end) in one
        read of their distinct clicks, and store those fuller than what is stored; the days
        with clicks."""
        where = (
            f"day >= {literal(_iso_day(first))} AND day < {literal(_iso_day(end))} "
            f"AND at_us >= {first} AND at_us < {end}"
        )
        if link_ids is not None:
            where += f" AND link_id IN {literal(list(link_ids))}"
        names = [SERIES, DAY_VISITORS, *self.breakdowns]
        values = [
            "toNullable(toString(is_bot))",
            "if(visitor_id != '', '', NULL)",
            *self.breakdowns.values(),
        ]
        rows = await self.ch.rows(
            f"SELECT link_id, intDiv(at_us, {DAY_US}) * {DAY_US} AS day_start, dimension, "
            f"if(dimension = {literal(SERIES)}, intDiv(at_us, {HOUR_US}) * {HOUR_US}, "
            "day_start) AS hour, assumeNotNull(value) AS label, count() AS n, "
            f"uniqExactIf(visitor_id, dimension = {literal(DAY_VISITORS)}) AS visitors "
            f"FROM (SELECT * FROM {self.clicks} FINAL WHERE {where}) "
            f"ARRAY JOIN [{', '.join(map(literal, names))}] AS dimension, "
            f"[{', '.join(values)}] AS value "
            f"WHERE value IS NOT NULL AND (is_bot = 0 OR dimension = {literal(SERIES)}) "
            "GROUP BY link_id, day_start, dimension, hour, label"
        )
        computed: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        versions: dict[tuple[int, int], int] = defaultdict(int)
        for link_id, day, dimension, hour, label, n, visitors in rows:
            key = (int(link_id), int(day))
            if dimension == SERIES:
                versions[key] += int(n)
            computed[key].append(
                {
                    "link_id": key[0],
                    "day": _iso_day(key[1]),
                    "day_us": key[1],
                    "dimension": dimension,
                    "hour_us": int(hour),
                    "value": label,
                    "n": int(visitors) if dimension == DAY_VISITORS else int(n),
                }
            )
        stored = await self._versions(first, end, link_ids)
        fuller = [
            {**row, "version": versions[key]}
            for key, key_rows in computed.items()
            if versions[key] > stored.get(key, 0)
            for row in key_rows
        ]
        await self.ch.insert(self.table, fuller)
        return sorted({day for _, day in computed})

    async def _versions(
        self, first: int, end: int, link_ids: Sequence[int] | None
    ) -> dict[tuple[int, int], int]:
        """(link, day) → the highest version stored of its rollups, over the days [first, end)."""
        where = f"day_us >= {first} AND day_us < {end}"
        if link_ids is not None:
            where += f" AND link_id IN {literal(list(link_ids))}"
        rows = await self.ch.rows(
            f"SELECT link_id, day_us, max(version) FROM {self.table} WHERE {where} "
            "GROUP BY link_id, day_us"
        )
        return {(int(link_id), int(day)): int(version) for link_id, day, version in rows}


def _date_of(us: str) -> str:
    """The UTC date of a time in µs (an SQL expression), as a Date: a day number converts to
    one on 18.16 and current servers alike."""
    return f"toDate(intDiv({us}, {DAY_US}))"


def _day_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_US


def _next_month(day_us: int) -> int:
    """The start of the calendar month after the one `day_us` falls in (µs)."""
    day = date(1970, 1, 1) + timedelta(microseconds=day_us)
    return _day_us(date(day.year + day.month // 12, day.month % 12 + 1, 1))


def _iso_day(day_us: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(microseconds=day_us)).date().isoformat()
