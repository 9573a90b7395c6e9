"""The overview's reads (surge.analytics.overview_repository) from the ClickHouse click store:
many links at once, aggregated at query time over each distinct click."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from surge.analytics.clickhouse_repository import DAY_US, ClickHouseClicks, day_us, hours_touched


class ClickHouseOverview:
    def __init__(self, clicks: ClickHouseClicks) -> None:
        self.clicks = clicks

    async def slots(
        self, link_ids: Sequence[int] | None, start: datetime, end: datetime, step_s: int
    ) -> tuple[dict[int, int], dict[bool, int]]:
        links = await self.clicks.links_where(link_ids)
        return await self.clicks.range_slots(links, start, end, step_s)

    async def breakdowns(
        self,
        link_ids: Sequence[int] | None,
        dimensions: Sequence[str],
        first: date,
        last: date,
        limit: int,
    ) -> dict[str, list[tuple[str, int]]]:
        links = await self.clicks.links_where(link_ids)
        return await self.clicks.range_breakdowns(links, dimensions, first, last, limit)

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
