"""The overview's reads (surge.analytics.overview_repository) from the ClickHouse click store:
many links at once, aggregated at query time over each distinct click."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime

from surge.analytics.clickhouse_repository import (
    BREAKDOWN_VALUES,
    DAY_US,
    US,
    ClickHouseClicks,
    day_us,
    hours_touched,
)
from surge.analytics.repository import VISITORS
from surge.platform.clickhouse import literal


class ClickHouseOverview:
    def __init__(self, clicks: ClickHouseClicks) -> None:
        self.clicks = clicks

    async def slots(
        self, link_ids: Sequence[int] | None, start: datetime, end: datetime, step_s: int
    ) -> tuple[dict[int, int], dict[bool, int]]:
        links = await self.clicks.links_where(link_ids)
        return await self._slots(links, start, end, step_s)

    async def breakdowns(
        self,
        link_ids: Sequence[int] | None,
        dimensions: Sequence[str],
        first: date,
        last: date,
        limit: int,
    ) -> dict[str, list[tuple[str, int]]]:
        links = await self.clicks.links_where(link_ids)
        return await self._breakdowns(links, dimensions, first, last, limit)

    async def _slots(
        self, links: str, start: datetime, end: datetime, step_s: int
    ) -> tuple[dict[int, int], dict[bool, int]]:
        """Human clicks per slot, and totals, of the clicks `links` (a links_where) counts over
        the hours from start's to the one `end` falls in, as the SQL rollups' hours are read."""
        hours = hours_touched(start, end)
        slot = f"intDiv(at_us, {step_s * US}) * {step_s} AS slot"
        rows = await self.clicks.ch.rows(
            f"SELECT is_bot, {slot}, count() AS n FROM "
            + self.clicks.distinct_clicks("is_bot, at_us", f"{links} AND {hours}")
            + " GROUP BY is_bot, slot"
        )
        humans: dict[int, int] = {}
        totals = {False: 0, True: 0}
        for is_bot, slot_s, n in rows:
            totals[bool(is_bot)] += int(n)
            if not is_bot:
                humans[int(slot_s)] = int(n)
        return humans, totals

    async def _breakdowns(
        self, links: str, dimensions: Sequence[str], first: date, last: date, limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The top `limit` values of human clicks of each dimension over the UTC days
        [first, last], most first, ties by value; `visitors` is one ('', distinct visitors a
        link and day, summed: as the SQL rollups' daily visitor rows are)."""
        days = f"at_us >= {day_us(first)} AND at_us < {day_us(last) + DAY_US}"
        in_range = self.clicks.distinct_clicks("*", f"{links} AND {days}")
        found: dict[str, list[tuple[str, int]]] = {d: [] for d in dimensions}
        wanted = [d for d in dimensions if d in BREAKDOWN_VALUES]
        queries = []
        if wanted:
            names = list(BREAKDOWN_VALUES)
            values = ", ".join(BREAKDOWN_VALUES[name] for name in names)
            queries.append(
                "SELECT dimension, assumeNotNull(value) AS label, count() AS n "
                f"FROM {in_range} ARRAY JOIN [{', '.join(map(literal, names))}] "
                f"AS dimension, [{values}] AS value "
                f"WHERE is_bot = 0 AND value IS NOT NULL AND dimension IN {literal(wanted)} "
                "GROUP BY dimension, label ORDER BY dimension, n DESC, label "
                f"LIMIT {int(limit)} BY dimension"
            )
        if VISITORS in dimensions:
            queries.append(
                f"SELECT {literal(VISITORS)} AS dimension, '' AS label, count() AS n FROM "
                f"(SELECT DISTINCT link_id, intDiv(at_us, {DAY_US}) AS d, visitor_id "
                f"FROM {in_range} WHERE is_bot = 0 AND visitor_id != '') HAVING n > 0"
            )
        # At once: the server runs them side by side (what a big link's stats wait for).
        for rows in await asyncio.gather(*(self.clicks.ch.rows(query) for query in queries)):
            for dimension, value, n in rows:
                found[dimension].append((value, int(n)))
        return found

    async def _humans(
        self, where: str, keys: str = "link_id", group: str = "link_id", tail: str = ""
    ) -> list[list[int]]:
        """Human clicks matching `where`, counted by `keys` (columns, aliased as `group`
        names them)."""
        rows = await self.clicks.ch.rows(
            f"SELECT {keys}, count() AS n FROM "
            + self.clicks.distinct_clicks("link_id, at_us, is_bot", where)
            + f" WHERE is_bot = 0 GROUP BY {group} {tail}"
        )
        return [[int(value) for value in row] for row in rows]

    async def top_links(
        self, link_ids: Sequence[int] | None, start: datetime, end: datetime, limit: int
    ) -> list[tuple[int, int]]:
        """(link id, human clicks in the range) of the `limit` links with the most (ties:
        highest id first), over the hours the range touches, as the SQL rollups are read."""
        where = f"{await self.clicks.links_where(link_ids)} AND {hours_touched(start, end)}"
        rows = await self._humans(where, tail=f"ORDER BY n DESC, link_id DESC LIMIT {int(limit)}")
        return [(link_id, n) for link_id, n in rows]

    async def ranking(
        self, link_ids: Sequence[int], offset: int, limit: int
    ) -> list[tuple[int, int]]:
        """(link id, all-time human clicks) of a page of the links by clicks, most first (ties:
        highest id first); links without clicks rank with 0."""
        if not link_ids:
            return []
        counted = await self._humans(await self.clicks.links_where(link_ids))
        found = {row[0]: row[1] for row in counted}
        ranked = sorted(((found.get(i, 0), i) for i in set(link_ids)), reverse=True)
        return [(link_id, n) for n, link_id in ranked[offset : offset + limit]]

    async def daily(
        self, link_ids: Sequence[int], first: date, days: int
    ) -> dict[int, dict[int, int]]:
        """link id → {day number from `first`: human clicks} (days without clicks absent)."""
        if not link_ids:
            return {}
        start = day_us(first)
        where = (
            f"{await self.clicks.links_where(link_ids)} "
            f"AND at_us >= {start} AND at_us < {start + days * DAY_US}"
        )
        found: dict[int, dict[int, int]] = {}
        day = f"intDiv(at_us - {start}, {DAY_US}) AS day"
        for link_id, number, n in await self._humans(where, f"link_id, {day}", "link_id, day"):
            found.setdefault(link_id, {})[number] = n
        return found
