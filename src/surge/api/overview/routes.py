"""The overview API (`GET /api/v1/overview`): the clicks of all of the key's user's links over
a range, summed, with their top links, referrers, countries and devices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from surge.accounts.deps import CurrentKey
from surge.data.contracts import Interval
from surge.links.deps import OverviewServiceDep
from surge.links.overview_schemas import OverviewOut
from surge.links.schemas import Timestamp
from surge.platform.deps import SettingsDep
from surge.platform.problems import (
    ANALYTICS_UNAVAILABLE,
    INVALID_RANGE,
    RANGE_TOO_LARGE,
    UNAUTHORIZED,
    problem_responses,
)

router = APIRouter(prefix="/api/v1", tags=["overview"])


@router.get(
    "/overview",
    responses=problem_responses(
        UNAUTHORIZED, INVALID_RANGE, RANGE_TOO_LARGE, ANALYTICS_UNAVAILABLE
    ),
)
async def overview(
    key: CurrentKey,
    overviews: OverviewServiceDep,
    settings: SettingsDep,
    start: Annotated[
        Timestamp | None,
        Query(alias="from", description="Start of the range (default: 7 days before `to`)."),
    ] = None,
    end: Annotated[Timestamp | None, Query(alias="to", description="End (default: now).")] = None,
    interval: Interval = "day",
    every: Annotated[
        bool,
        Query(
            description="An admin key: every link's clicks, everyone's (links deleted since "
            "included). Ignored for other keys, which always see their user's links."
        ),
    ] = False,
) -> OverviewOut:
    """Clicks of the key's user's links in `[from, to)`, summed: totals, a time series, the top
    links, referrers, countries, regions, cities, devices, browsers and systems; each figure
    is the sum of the links' own stats over the same range (read from the same rollups).
    A range reaching before the first link was made or past now is clamped to that, and the
    answer's `from` and `to` say the range counted; 400 `invalid-range` for `from` not before
    `to`, `range-too-large` when the clamped range has more points than a query reads (a
    quarter by the hour). Clicks brought from another shortener (`surge import`) have no
    date and are not in it."""
    owner = None if (every and key.is_admin) else key.user_id
    found = await overviews.overview(owner, start=start, end=end, interval=interval)
    return OverviewOut.of(found, settings.public_url)
