"""All SQL of the ClickHouse click store: ingest, stats, visit counts and pages, deletion.

One link's stats read sealed days and hours from exact rollups (surge.analytics.
clickhouse_rollups) and the rest from raw clicks, in one statement (surge.analytics.
clickhouse_link_stats); the overview's reads (surge.analytics.clickhouse_overview) and the
others aggregate raw clicks. Every read
goes through `distinct_clicks`, which reads `FINAL` filtered on key columns only (the link and a
time range): a click stored twice, in parts not merged yet, is one row there, so every count is
exact whatever the merges have done. Answers have the shapes of the SQL repositories'
(surge.analytics.repository), so ClickService's code is the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from surge.analytics.clickhouse_link_stats import (
    Counts,
    Tables,
    link_stats_counts,
    link_stats_sql,
)
from surge.analytics.clickhouse_rollups import SERIES, ClickRollups
from surge.analytics.enrich import DIRECT, UNKNOWN_COUNTRY, Click
from surge.analytics.repository import VISITORS
from surge.data.contracts import VisitOut
from surge.platform.clickhouse import ClickHouse, literal
from surge.platform.clock import utc_now

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US
LABEL_MAX = 255  # a breakdown value's length, in characters, as the SQL rollups cut it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VISIT_FIELDS = list(VisitOut.model_fields)  # a visits page's columns, in VisitOut's order
EXPORT_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # as surge.analytics.export_repository.UtcIsoText


def to_us(moment: datetime) -> int:
    """A time as epoch microseconds (exact: no float on the way)."""
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def day_us(day: date) -> int:
    return (day - _EPOCH.date()).days * DAY_US


def hour_bounds(start: datetime, end: datetime) -> tuple[int, int]:
    """[first, last) µs: the hours from start's to the one `end` falls in, what the SQL
    rollups' hourly rows of a range (bucket >= start's hour, bucket < end) hold."""
    return to_us(start) // HOUR_US * HOUR_US, -(-to_us(end) // HOUR_US) * HOUR_US


def hours_touched(start: datetime, end: datetime) -> str:
    """The clicks of `hour_bounds`, as a filter."""
    first, last = hour_bounds(start, end)
    return f"at_us >= {first} AND at_us < {last}"


def _label(*parts: str) -> str:
    """`a, b, c` of the parts that are set, the first one required (NULL without it), cut as
    the SQL rollups cut it (surge.analytics.ingest_sql.region_label)."""
    tail = "".join(f", ifNull(concat(', ', {part}), '')" for part in parts[1:])
    return f"substringUTF8(concat({parts[0]}{tail}), 1, {LABEL_MAX})"


# What each breakdown counts a click as, as the SQL rollups label it (NULL: not counted).
BREAKDOWN_VALUES = {
    "referrer": f"ifNull(referrer_host, {literal(DIRECT)})",
    "country": f"ifNull(country, {literal(UNKNOWN_COUNTRY)})",
    "device": "toNullable(device)",
    "browser": "toNullable(browser)",
    "os": "toNullable(os)",
    "target": "target",
    "region": _label("region", "country"),
    "city": _label("city", "region", "country"),
}


class ClickHouseClicks:
    """The click store in ClickHouse: what ClickRepository, StatsRepository and VisitRepository
    do on SQL, for one database."""

    def __init__(self, clickhouse: ClickHouse, grace: timedelta | None = None) -> None:
        """`grace`: how long after its end a day is rolled up (ClickRollups' default)."""
        self.ch = clickhouse
        self.rollups = (
            ClickRollups(clickhouse, BREAKDOWN_VALUES)
            if grace is None
            else ClickRollups(clickhouse, BREAKDOWN_VALUES, grace)
        )
        self.clicks_table = f"{clickhouse.database}.clicks"
        self.tables = Tables(
            self.clicks_table,
            self.rollups.table,
            self.rollups.hour_table,
            self.rollups.hour_visitors,
        )
        self.deletions_table = f"{clickhouse.database}.visit_deletions"

    def cut_sql(self, link_id: int) -> str:
        """The time before which the link's clicks do not count (its latest visit deletion;
        0 when none: max over no rows is 0)."""
        return f"(SELECT max(before_us) FROM {self.deletions_table} WHERE link_id = {link_id})"

    def distinct_clicks(self, columns: str, where: str) -> str:
        """Each stored click matching `where` once: FINAL merges copies of a click not merged
        yet. `where` names only columns a click's copies share (key columns, and `day`), so
        filtering before the merge cannot pick one copy and drop another."""
        return f"(SELECT {columns} FROM {self.clicks_table} FINAL WHERE {where})"

    async def cut_offs(self, link_ids: Sequence[int]) -> dict[int, int]:
        """link id → the time (µs) before which its clicks do not count, for those with one."""
        if not link_ids:
            return {}
        rows = await self.ch.rows(
            f"SELECT link_id, max(before_us) FROM {self.deletions_table} "
            f"WHERE link_id IN {literal(sorted(set(link_ids)))} GROUP BY link_id"
        )
        return {int(link_id): int(cut) for link_id, cut in rows}

    # --- ingest --------------------------------------------------------------------------------

    async def fresh(self, batch: Sequence[Click]) -> list[Click]:
        """The clicks of the batch to store: the first copy of each, none stored before, none
        from before its link's visit deletion (one read of the batch's ids)."""
        if not batch:
            return []
        link_ids = sorted({c.link_id for c in batch})
        cuts = await self.cut_offs(link_ids)
        times = [to_us(c.occurred_at) for c in batch]
        ids = sorted({c.id for c in batch})
        seen = {
            row[0]
            for row in await self.ch.rows(
                f"SELECT id FROM {self.clicks_table} WHERE link_id IN {literal(link_ids)} "
                f"AND at_us >= {min(times)} AND at_us <= {max(times)} AND id IN {literal(ids)}"
            )
        }
        new: list[Click] = []
        for click, at_us in zip(batch, times, strict=True):
            if click.id not in seen and at_us >= cuts.get(click.link_id, 0):
                seen.add(click.id)
                new.append(click)
        return new

    async def store(self, clicks: Sequence[Click]) -> None:
        """Insert the clicks in one INSERT (one part per month they fall in). A click stored
        twice (a consumer killed after this and before its ack, or two consumers racing on one
        redelivered entry) is one key: reads count it once, merges keep one row."""
        rows = [
            {
                "link_id": click.link_id,
                "at_us": to_us(click.occurred_at),
                "id": click.id,
                "day": click.occurred_at.astimezone(UTC).date().isoformat(),
                "referrer_host": click.referrer_host,
                "country": click.country,
                "device": click.device,
                "browser": click.browser,
                "os": click.os,
                "is_bot": int(click.is_bot),
                "visitor_id": click.visitor_id,
                "target": click.target,
                "region": click.region,
                "city": click.city,
            }
            for click in clicks
        ]
        await self.ch.insert(self.clicks_table, rows)

    async def ingest_new(self, batch: Sequence[Click]) -> set[str]:
        """`fresh`, stored, and late days re-rolled: the ids of the clicks it stored."""
        new = await self.fresh(batch)
        await self.store(new)
        await self.rollups.reroll_late(batch, utc_now())
        return {click.id for click in new}

    async def delete_visits(self, link_id: int, now: datetime) -> int:
        """Stop counting the link's clicks from before `now`, and have them deleted: the
        clicks its stats counted. Reads stop at once (the cut-off); the rows go in the
        background (an ALTER ... DELETE mutation), and late ones are not stored."""
        counted = await self.all_time_clicks(link_id)
        cut = to_us(now)
        await self.ch.insert(self.deletions_table, [{"link_id": link_id, "before_us": cut}])
        await self.ch.execute(
            f"ALTER TABLE {self.clicks_table} DELETE WHERE link_id = {link_id} AND at_us < {cut}"
        )
        return counted

    async def drop_months_before(self, cutoff: datetime) -> list[str]:
        """Retention: drop the months of raw clicks wholly before `cutoff` (a partition each,
        dropped whole: no TTL on 18.16, and no row-by-row delete). Stats are counted from
        these rows, so their history goes with them. The months dropped, as YYYYMM."""
        rows = await self.ch.rows(
            "SELECT DISTINCT partition FROM system.parts WHERE active "
            f"AND database = {literal(self.ch.database)} AND table = 'clicks'"
        )
        dropped = []
        for (partition,) in rows:
            year, month = divmod(int(partition), 100)
            if datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC) <= cutoff:
                await self.ch.execute(
                    f"ALTER TABLE {self.clicks_table} DROP PARTITION {int(partition)}"
                )
                dropped.append(str(partition))
        return sorted(dropped)

    # --- stats (the methods of StatsRepository) ------------------------------------------------

    async def links_where(self, link_ids: Sequence[int] | None) -> str:
        """Which clicks count: the links' (all links' for None), each from its cut-off on.
        One link's cut-off is a subquery of the statement; many links' are read first (a
        round trip: deletions are few, and a join's syntax differs between old and new
        servers)."""
        if link_ids is not None and len(link_ids) == 1:
            return f"link_id = {link_ids[0]} AND at_us >= {self.cut_sql(link_ids[0])}"
        where = "1" if link_ids is None else f"link_id IN {literal(sorted(set(link_ids)))}"
        if link_ids is None:
            cuts = {
                int(i): int(c)
                for i, c in await self.ch.rows(
                    f"SELECT link_id, max(before_us) FROM {self.deletions_table} GROUP BY link_id"
                )
            }
        else:
            cuts = await self.cut_offs(link_ids)
        if cuts:
            before = " OR ".join(f"(link_id = {i} AND at_us < {cut})" for i, cut in cuts.items())
            where += f" AND NOT ({before})"
        return where

    async def link_stats(
        self,
        link_id: int,
        start: datetime,
        end: datetime,
        step_s: int,
        dimensions: Sequence[str],
        limit: int,
    ) -> Counts:
        """`slots` and `breakdowns` (over the UTC days the range touches) in one statement."""
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        query = link_stats_sql(
            await self.rollups.split(link_id),
            self.tables,
            BREAKDOWN_VALUES,
            hours=hour_bounds(start, end),
            days=(day_us(first), day_us(last) + DAY_US),
            step_s=step_s,
            wanted=[d for d in dimensions if d in BREAKDOWN_VALUES],
            visitors=VISITORS if VISITORS in dimensions else None,
            limit=limit,
        )
        return link_stats_counts(await self.ch.rows(query), dimensions)

    async def all_time_clicks(self, link_id: int) -> int:
        split = await self.rollups.split(link_id)
        series = f"dimension = {literal(SERIES)}"
        query = (
            "SELECT sum(c) FROM (SELECT count() AS c FROM "
            + self.distinct_clicks("id", split.raw)
            + " UNION ALL SELECT sum(n) AS c FROM "
            + self.rollups.rows_of("n", f"{split.rolled} AND {series}")
            + " UNION ALL SELECT sum(n) AS c FROM "
            + self.rollups.rows_of("n", f"{split.hours} AND {series}", self.rollups.hour_table)
            + ")"
        )
        return int((await self.ch.rows(query))[0][0])

    async def clicks_per_hour(self, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """All links' clicks (bots too) per UTC hour of [start, end) that has any, in order:
        what `surge capacity --from-db` reads of the SQL rollups."""
        where = (
            f"{await self.links_where(None)} AND at_us >= {to_us(start)} AND at_us < {to_us(end)}"
        )
        rows = await self.ch.rows(
            f"SELECT intDiv(at_us, {HOUR_US}) AS hour, count() FROM "
            + self.distinct_clicks("link_id, at_us", where)
            + " GROUP BY hour ORDER BY hour"
        )
        return [(from_us(int(hour) * HOUR_US), int(n)) for hour, n in rows]

    # --- many links (the methods of VisitRepository) -------------------------------------------

    async def counts(self, link_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """link id → (human clicks, bot clicks), all time; links without clicks are absent."""
        if not link_ids:
            return {}
        rows = await self.ch.rows(
            "SELECT link_id, countIf(is_bot = 0), countIf(is_bot = 1) FROM "
            + self.distinct_clicks("link_id, is_bot", await self.links_where(link_ids))
            + " GROUP BY link_id ORDER BY link_id"
        )
        return {int(link_id): (int(humans), int(bots)) for link_id, humans, bots in rows}

    async def visits(
        self,
        link_ids: Sequence[int],
        *,
        start: datetime | None,
        end: datetime | None,
        exclude_bots: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(matching clicks, one page of them newest first): as VisitRepository.visits."""
        if not link_ids:
            return 0, []
        where = await self.links_where(link_ids)
        if start is not None:
            where += f" AND at_us >= {to_us(start)}"
        if end is not None:
            where += f" AND at_us <= {to_us(end)}"
        columns = ", ".join(VISIT_FIELDS).replace("occurred_at", "at_us") + ", id"
        matching = self.distinct_clicks(columns, where) + (
            " WHERE is_bot = 0" if exclude_bots else ""
        )
        return await self.newest_first(matching, VISIT_FIELDS, offset, limit)

    async def newest_first(
        self, matching: str, fields: Sequence[str], offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """(rows of `matching`, one page of them newest first, as `fields`): `matching` is a
        subquery of those fields, `at_us` for `occurred_at`, and `id` last."""
        total = int((await self.ch.rows(f"SELECT count() FROM {matching}"))[0][0])
        rows = await self.ch.rows(
            f"SELECT * FROM {matching} ORDER BY at_us DESC, id DESC "
            f"LIMIT {int(offset)}, {int(limit)}"
        )
        page = []
        for row in rows:
            found = dict(zip(fields, row, strict=False))
            found["occurred_at"] = from_us(int(found["occurred_at"]))
            page.append(found)
        return total, page

    # --- exports (the method of VisitExportRepository) -----------------------------------------

    async def export_page(
        self,
        link_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` clicks of the link in [start, end), oldest first, after `after`, as
        VisitExportRepository.page's rows: a range of the table's key, sorted already."""
        where = await self.links_where([link_id])
        if start is not None:
            where += f" AND at_us >= {to_us(start)}"
        if end is not None:
            where += f" AND at_us < {to_us(end)}"
        if after is not None:
            at, click_id = to_us(after[0]), after[1]
            where += f" AND at_us >= {at} AND (at_us > {at} OR id > {literal(click_id)})"
        columns = (
            "id, at_us, referrer_host, country, region, city, device, browser, os, is_bot, target"
        )
        page = f"ORDER BY at_us, id LIMIT {int(limit)}"
        rows = await self.ch.rows(f"SELECT * FROM {self.distinct_clicks(columns, where)} {page}")
        return [
            (r[0], from_us(int(r[1])).strftime(EXPORT_TIME), *r[2:9], bool(r[9]), r[10])
            for r in rows
        ]
