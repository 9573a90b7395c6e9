"""Analytics' internal REST API about many links at once (POSTs: the ids do not fit in a URL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from surge.analytics.overview import ClickOverview
from surge.data.overview import (
    DailySeries,
    DailySeriesQuery,
    OverviewQuery,
    OverviewStats,
    Ranking,
    RankingQuery,
)
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import FORBIDDEN, INVALID_RANGE, RANGE_TOO_LARGE, problem_responses


async def get_click_overview(request: Request) -> ClickOverview:
    overview: ClickOverview = request.app.state.click_overview
    return overview


ClickOverviewDep = Annotated[ClickOverview, Depends(get_click_overview)]
router = APIRouter(
    prefix="/internal/analytics",
    dependencies=[Depends(require_internal_token)],
    responses=problem_responses(FORBIDDEN),
)


@router.post("/overview", responses=problem_responses(INVALID_RANGE, RANGE_TOO_LARGE))
async def overview(query: OverviewQuery, overviews: ClickOverviewDep) -> OverviewStats:
    """The links' clicks over the range, summed, and their top links."""
    return await overviews.overview(query)


@router.post("/ranking")
async def ranking(query: RankingQuery, overviews: ClickOverviewDep) -> Ranking:
    """A page of the links ordered by all-time human clicks."""
    return await overviews.ranking(query)


@router.post("/daily-series")
async def daily_series(query: DailySeriesQuery, overviews: ClickOverviewDep) -> DailySeries:
    """Each link's human clicks per UTC day (the links list's sparklines)."""
    return await overviews.daily_series(query)
