"""Analytics' internal REST API of orphan visits: stats, a page of raw visits, all-time counts,
deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from surge.analytics.orphan_service import OrphanService
from surge.data.contracts import MAX_TOP, TOP, Interval
from surge.data.orphans import (
    DeletedOrphanVisits,
    OrphanCounts,
    OrphanVisitsPage,
    OrphanVisitsQuery,
)
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import FORBIDDEN, INVALID_RANGE, RANGE_TOO_LARGE, problem_responses


async def get_orphan_service(request: Request) -> OrphanService:
    service: OrphanService = request.app.state.orphan_service
    return service


OrphanServiceDep = Annotated[OrphanService, Depends(get_orphan_service)]
router = APIRouter(
    prefix="/internal/analytics/orphans",
    dependencies=[Depends(require_internal_token)],
    responses=problem_responses(FORBIDDEN),
)


@router.get("/stats", responses=problem_responses(INVALID_RANGE, RANGE_TOO_LARGE))
async def orphan_stats(
    orphans: OrphanServiceDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    interval: Annotated[Interval, Query()] = "day",
    domain: Annotated[str | None, Query(max_length=253)] = None,  # a key: '' the default one
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = TOP,
) -> Response:
    body = await orphans.stats_json(start, end, interval, domain, top)
    return Response(body, media_type="application/json")


@router.post("/visits")
async def orphan_visits(query: OrphanVisitsQuery, orphans: OrphanServiceDep) -> OrphanVisitsPage:
    """One page of raw orphan visits, newest first (a POST, as the links' visits)."""
    return await orphans.visits(query)


@router.get("/counts")
async def orphan_counts(orphans: OrphanServiceDep) -> OrphanCounts:
    return await orphans.counts()


@router.delete("")
async def delete_orphan_visits(orphans: OrphanServiceDep) -> DeletedOrphanVisits:
    """Delete every orphan visit so far. Not idempotent (visits keep coming): a caller does not
    send it again on its own."""
    return await orphans.delete_all()
