"""Exports of a link's raw visits: analytics' side, one keyset page per request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.export_repository import VisitExportRepository
from surge.data.visit_export import VisitCursor
from surge.platform.db import SessionMaker


class VisitExporter:
    def __init__(self, sessions: SessionMaker, clickhouse: ClickHouseClicks | None = None) -> None:
        self.sessions = sessions
        self.clickhouse = clickhouse  # where raw clicks live when SURGE_CLICKHOUSE_URL is set

    async def chunk_json(
        self,
        link_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        after: VisitCursor | None,
        limit: int,
    ) -> bytes:
        """One page of the link's visits as the JSON of a `VisitChunk`, built by orjson from
        the rows (the api validates it as it reads it: validating a page on both sides would
        cost as much again)."""
        last = None if after is None else (after.time, after.id)
        rows: Sequence[Any]
        if self.clickhouse is not None:
            rows = await self.clickhouse.export_page(
                link_id, start=start, end=end, after=last, limit=limit
            )
        else:
            async with self.sessions() as session:
                rows = await VisitExportRepository(session).page(
                    link_id, start=start, end=end, after=last, limit=limit
                )
        items = [tuple(row) for row in rows]
        # A short page is the last one; else the next starts after this one's last visit.
        cursor = None
        if len(items) == limit:
            cursor = {"time": items[-1][1], "id": items[-1][0]}
        return orjson.dumps({"items": items, "next": cursor})
