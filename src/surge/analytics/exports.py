"""Exports of a link's raw visits: analytics' side, one keyset page per request."""

from __future__ import annotations

from datetime import datetime

import orjson

from surge.analytics.export_repository import VisitExportRepository
from surge.data.visit_export import VisitCursor
from surge.platform.db import SessionMaker


class VisitExporter:
    def __init__(self, sessions: SessionMaker) -> None:
        self.sessions = sessions

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
        async with self.sessions() as session:
            rows = await VisitExportRepository(session).page(
                link_id,
                start=start,
                end=end,
                after=None if after is None else (after.time, after.id),
                limit=limit,
            )
        items = [tuple(row) for row in rows]
        # A short page is the last one; else the next starts after this one's last visit.
        cursor = None
        if len(items) == limit:
            cursor = {"time": items[-1][1], "id": items[-1][0]}
        return orjson.dumps({"items": items, "next": cursor})
