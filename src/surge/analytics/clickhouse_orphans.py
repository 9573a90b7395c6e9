"""Orphan visits (surge.data.orphans) in the ClickHouse click store: what OrphanRepository does
on SQL, with the same answers. Deduplicated as clicks are (clickhouse_repository.py): ingest
skips the ids it finds stored, every read is `FINAL` on key columns; no rollup (the hourly
series is counted from the raw rows, as the breakdowns already are on SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from surge.analytics.clickhouse_repository import (
    BREAKDOWN_VALUES,
    DAY_US,
    ClickHouseClicks,
    hours_touched,
    to_us,
)
from surge.analytics.orphan_repository import OrphanVisit
from surge.data.orphans import ORPHAN_LINK_ID, OrphanVisitOut
from surge.platform.clickhouse import literal

# An orphan visit's breakdowns: a link's but its redirect target, and the path it asked for.
ORPHAN_BREAKDOWNS = {
    **{name: value for name, value in BREAKDOWN_VALUES.items() if name != "target"},
    "path": "toNullable(concat(domain, path))",
}
PAGE_FIELDS = list(OrphanVisitOut.model_fields)  # a page's columns, in OrphanVisitOut's order


class ClickHouseOrphans:
    def __init__(self, clicks: ClickHouseClicks) -> None:
        self.ch = clicks.ch
        self.table = f"{clicks.ch.database}.orphan_visits"
        self.deletions_table = clicks.deletions_table
        self.cut = clicks.cut_sql(ORPHAN_LINK_ID)
        self.clicks = clicks

    def _visits(self, columns: str, where: str) -> str:
        """Each stored visit matching `where` (shared columns only) once, after the cut-off."""
        return f"(SELECT {columns} FROM {self.table} FINAL WHERE at_us >= {self.cut} AND {where})"

    @staticmethod
    def _range(start: datetime, end: datetime, domain: str | None) -> str:
        where = f"at_us >= {to_us(start)} AND at_us < {to_us(end)}"
        return where if domain is None else f"{where} AND domain = {literal(domain)}"

    async def ingest(self, batch: Sequence[OrphanVisit]) -> int:
        """Store the visits not stored before (nor from before the last deletion): how many."""
        if not batch:
            return 0
        cut = (await self.clicks.cut_offs([ORPHAN_LINK_ID])).get(ORPHAN_LINK_ID, 0)
        times = [to_us(v.occurred_at) for v in batch]
        seen = {
            row[0]
            for row in await self.ch.rows(
                f"SELECT id FROM {self.table} WHERE at_us >= {min(times)} "
                f"AND at_us <= {max(times)} AND id IN {literal(sorted({v.id for v in batch}))}"
            )
        }
        rows = []
        for visit, at_us in zip(batch, times, strict=True):
            if visit.id in seen or at_us < cut:
                continue
            seen.add(visit.id)
            row: dict[str, Any] = visit._asdict()
            del row["occurred_at"]
            row.update(
                at_us=at_us,
                day=visit.occurred_at.astimezone(UTC).date().isoformat(),
                is_bot=int(visit.is_bot),
            )
            rows.append(row)
        await self.ch.insert(self.table, rows)
        return len(rows)

    async def delete_all(self, now: datetime) -> int:
        """Stop counting every orphan visit from before `now`: what the stats counted."""
        humans, bots = await self.totals()
        cut = to_us(now)
        await self.ch.insert(self.deletions_table, [{"link_id": ORPHAN_LINK_ID, "before_us": cut}])
        await self.ch.execute(f"ALTER TABLE {self.table} DELETE WHERE at_us < {cut}")
        return humans + bots

    async def hourly(
        self, start: datetime, end: datetime, domain: str | None
    ) -> list[tuple[int, str, bool, int]]:
        """(hour in epoch seconds, kind, bot, visits) of the range's hours that have any."""
        where = hours_touched(start, end)
        if domain is not None:
            where += f" AND domain = {literal(domain)}"
        rows = await self.ch.rows(
            "SELECT intDiv(at_us, 3600000000) * 3600 AS hour, kind, is_bot, count() FROM "
            + self._visits("at_us, kind, is_bot", where)
            + " GROUP BY hour, kind, is_bot"
        )
        return [(int(hour), kind, bool(bot), int(n)) for hour, kind, bot, n in rows]

    async def breakdowns(
        self, start: datetime, end: datetime, domain: str | None, limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The `limit` values with the most human visits in each breakdown, ties by value."""
        names = list(ORPHAN_BREAKDOWNS)
        values = ", ".join(ORPHAN_BREAKDOWNS[name] for name in names)
        rows = await self.ch.rows(
            "SELECT dimension, assumeNotNull(value) AS label, count() AS n "
            f"FROM {self._visits('*', self._range(start, end, domain))} "
            f"ARRAY JOIN [{', '.join(map(literal, names))}] AS dimension, [{values}] AS value "
            "WHERE is_bot = 0 AND value IS NOT NULL "
            f"GROUP BY dimension, label ORDER BY dimension, n DESC, label "
            f"LIMIT {int(limit)} BY dimension"
        )
        found: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
        for dimension, value, n in rows:
            found[dimension].append((value, int(n)))
        return found

    async def unique_visitors(self, start: datetime, end: datetime, domain: str | None) -> int:
        """Distinct visitors per UTC day, summed over the range's days (as a link's)."""
        rows = await self.ch.rows(
            f"SELECT count() FROM (SELECT DISTINCT intDiv(at_us, {DAY_US}), visitor_id FROM "
            + self._visits("at_us, visitor_id, is_bot", self._range(start, end, domain))
            + " WHERE is_bot = 0 AND visitor_id != '')"
        )
        return int(rows[0][0])

    async def totals(self) -> tuple[int, int]:
        """(human, bot) orphan visits so far."""
        rows = await self.ch.rows(
            "SELECT countIf(is_bot = 0), countIf(is_bot = 1) FROM " + self._visits("is_bot", "1")
        )
        return int(rows[0][0]), int(rows[0][1])

    async def page(
        self,
        *,
        domain: str | None,
        kind: str | None,
        start: datetime | None,
        end: datetime | None,
        exclude_bots: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(matching visits, one page of them newest first), as OrphanRepository.page."""
        where = ["1"]
        if domain is not None:
            where.append(f"domain = {literal(domain)}")
        if start is not None:
            where.append(f"at_us >= {to_us(start)}")
        if end is not None:
            where.append(f"at_us <= {to_us(end)}")
        columns = ", ".join(PAGE_FIELDS).replace("occurred_at", "at_us") + ", id"
        outer = []
        if kind is not None:
            outer.append(f"kind = {literal(kind)}")
        if exclude_bots:
            outer.append("is_bot = 0")
        matching = self._visits(columns, " AND ".join(where))
        if outer:
            matching += " WHERE " + " AND ".join(outer)
        return await self.clicks.newest_first(matching, PAGE_FIELDS, offset, limit)
