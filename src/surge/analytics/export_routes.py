"""Analytics' internal REST API for exports: a link's raw visits, one keyset page a request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from surge.analytics.exports import VisitExporter
from surge.analytics.routes import ClickServiceDep
from surge.data.visit_export import EXPORT_CHUNK, MAX_EXPORT_CHUNK, VisitCursor
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import FORBIDDEN, INVALID_RANGE, problem_responses

router = APIRouter(
    prefix="/internal/analytics",
    dependencies=[Depends(require_internal_token)],
    responses=problem_responses(FORBIDDEN),
)


async def get_visit_exporter(clicks: ClickServiceDep) -> VisitExporter:
    return VisitExporter(clicks.sessions, clicks.clickhouse)


VisitExporterDep = Annotated[VisitExporter, Depends(get_visit_exporter)]


@router.get("/links/{link_id}/visits", responses=problem_responses(INVALID_RANGE))
async def link_visits(
    link_id: int,
    exporter: VisitExporterDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    after_time: Annotated[datetime | None, Query()] = None,
    after_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT_CHUNK)] = EXPORT_CHUNK,
) -> Response:
    """A `VisitChunk`: the link's visits in [from, to) oldest first, after the visit
    (`after_time`, `after_id`) that ended the page before; its `next` is the next page's."""
    for name, value in (("from", start), ("to", end), ("after_time", after_time)):
        if value is not None and value.tzinfo is None:
            raise INVALID_RANGE(f"'{name}' needs a time zone.")
    if (after_time is None) != (after_id is None):
        raise INVALID_RANGE("'after_time' and 'after_id' go together.")
    after = None
    if after_time is not None and after_id is not None:
        after = VisitCursor(time=after_time, id=after_id)
    body = await exporter.chunk_json(link_id, start=start, end=end, after=after, limit=limit)
    return Response(body, media_type="application/json")
