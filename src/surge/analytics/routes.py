"""Analytics' internal REST API: click ingest and stats queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from surge.analytics.service import ClickService
from surge.data.contracts import (
    MAX_TOP,
    TOP,
    ClickCount,
    DeletedVisits,
    Interval,
    VisitCountsOut,
    VisitCountsQuery,
    VisitsPage,
    VisitsQuery,
)
from surge.data.events import unpack_batch
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import (
    BATCH_TOO_LARGE,
    FORBIDDEN,
    INVALID_RANGE,
    RANGE_TOO_LARGE,
    VALIDATION_ERROR,
    problem_responses,
)
from surge.platform.tracing import LINKS_HEADER

MAX_BATCH = 10_000


async def get_click_service(request: Request) -> ClickService:
    service: ClickService = request.app.state.click_service
    return service


ClickServiceDep = Annotated[ClickService, Depends(get_click_service)]
router = APIRouter(
    prefix="/internal/analytics",
    dependencies=[Depends(require_internal_token)],
    responses=problem_responses(FORBIDDEN),
)


@router.post("/clicks", responses=problem_responses(BATCH_TOO_LARGE))
async def ingest_clicks(request: Request, clicks: ClickServiceDep) -> dict[str, int]:
    try:
        events = unpack_batch(await request.body())
    except ValueError as exc:
        raise VALIDATION_ERROR(f"Invalid click batch: {str(exc)[:500]}") from exc
    if len(events) > MAX_BATCH:
        raise BATCH_TOO_LARGE(f"At most {MAX_BATCH} events.")
    links = request.headers.get(LINKS_HEADER, "")
    result = await clicks.ingest(events, [link for link in links.split(",") if link])
    return {"received": result.received, "ingested": result.ingested}


@router.get("/links/{link_id}/stats", responses=problem_responses(INVALID_RANGE, RANGE_TOO_LARGE))
async def link_stats(
    link_id: int,
    clicks: ClickServiceDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    interval: Annotated[Interval, Query()] = "day",
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = TOP,  # values per breakdown
) -> Response:
    body = await clicks.link_stats_json(link_id, start, end, interval, top)
    return Response(body, media_type="application/json")


@router.get("/links/{link_id}/count")
async def link_click_count(link_id: int, clicks: ClickServiceDep) -> ClickCount:
    return ClickCount(link_id=link_id, clicks=await clicks.click_count(link_id))


@router.post("/visit-counts")
async def visit_counts(query: VisitCountsQuery, clicks: ClickServiceDep) -> VisitCountsOut:
    """All-time clicks of many links (a POST: the ids do not fit in a URL)."""
    return await clicks.visit_counts(query.link_ids)


@router.post("/visits")
async def visits(query: VisitsQuery, clicks: ClickServiceDep) -> VisitsPage:
    """One page of the raw clicks of some links, newest first."""
    return await clicks.visits(query)


@router.delete("/links/{link_id}/clicks")
async def delete_link_clicks(link_id: int, clicks: ClickServiceDep) -> DeletedVisits:
    """Delete every click of the link so far. Not idempotent (clicks keep coming): a caller
    does not send it again on its own."""
    return DeletedVisits(deleted=await clicks.delete_visits(link_id))
