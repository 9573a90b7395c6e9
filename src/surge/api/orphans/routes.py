"""The orphan-visits API (`/api/v1/orphan-visits`, admins): requests on a short domain that
found no link (its root, an unknown or expired slug, any other path), by kind and path."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from surge.accounts.deps import require_admin_key
from surge.data.contracts import Interval
from surge.data.orphans import OrphanKind, OrphanStats, OrphanVisitsPage
from surge.links.schemas import Timestamp
from surge.orphans.deps import OrphanVisitServiceDep
from surge.platform.problems import (
    ANALYTICS_UNAVAILABLE,
    FORBIDDEN,
    INVALID_RANGE,
    RANGE_TOO_LARGE,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    problem_responses,
)

router = APIRouter(
    prefix="/api/v1/orphan-visits",
    tags=["orphan visits"],
    dependencies=[Depends(require_admin_key)],
)
DomainQuery = Annotated[
    str | None,
    Query(
        max_length=260,
        pattern=r"^[^\x00-\x20/?#@]+$",
        description="Only this domain's ('default': the default domain); absent: every domain.",
    ),
]
COMMON = (UNAUTHORIZED, FORBIDDEN, VALIDATION_ERROR, ANALYTICS_UNAVAILABLE)


class DeletedOrphanVisitsOut(BaseModel):
    deleted_visits: int = Field(description="Orphan visits the stats had counted (bots too).")


@router.get(
    "",
    response_model=OrphanStats,
    responses=problem_responses(*COMMON, INVALID_RANGE, RANGE_TOO_LARGE),
)
async def orphan_stats(
    orphans: OrphanVisitServiceDep,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    interval: Interval = "day",
    domain: DomainQuery = None,
) -> Response:
    """Orphan visits in `[from, to)` (default: the last 7 days) in a link's stats shape, with
    `kinds` (`base_url`: the domain's root; `invalid_short_url`: a slug that names no link, or
    an expired one; `regular_404`: any other path) and the top `paths`. Totals, the series and
    kinds count all of them; breakdowns, paths and unique visitors count the raw visits kept
    (SURGE_CLICK_RETENTION_DAYS)."""
    stats = await orphans.stats(start=start, end=end, interval=interval, domain=domain)
    return Response(stats.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/visits", response_model=OrphanVisitsPage, responses=problem_responses(*COMMON))
async def orphan_visit_list(
    orphans: OrphanVisitServiceDep,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    domain: DomainQuery = None,
    kind: OrphanKind | None = None,
    exclude_bots: bool = False,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> OrphanVisitsPage:
    """Raw orphan visits kept (SURGE_CLICK_RETENTION_DAYS), newest first: `domain` ('' the
    default one), `path`, `kind`, and what a click keeps."""
    return await orphans.visits(
        domain=domain,
        kind=kind,
        start=start,
        end=end,
        exclude_bots=exclude_bots,
        offset=offset,
        limit=limit,
    )


@router.delete("", responses=problem_responses(UNAUTHORIZED, FORBIDDEN, ANALYTICS_UNAVAILABLE))
async def delete_orphan_visits(orphans: OrphanVisitServiceDep) -> DeletedOrphanVisitsOut:
    """Forget every orphan visit so far (raw and rolled up, every domain); those of before this
    moment still on their way are dropped too."""
    return DeletedOrphanVisitsOut(deleted_visits=await orphans.delete_all())
