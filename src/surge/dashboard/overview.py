"""The dashboard's overview (`/app/overview`, where a signed-in person lands): the clicks of
all of their links over a range, the top links, referrers, countries and devices; admins may
look at everyone's."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from surge.dashboard.charts import series_chart
from surge.dashboard.pages import SignedIn, render
from surge.data.contracts import Interval
from surge.links.deps import OverviewServiceDep
from surge.links.overview import Overview
from surge.links.schemas import LinkOut
from surge.platform.clock import utc_now
from surge.platform.deps import SettingsDep
from surge.platform.problems import INVALID_RANGE, ProblemError

router = APIRouter(prefix="/app", include_in_schema=False)
RangeDays = Literal["7", "30", "90"]


def overview_range(
    days: RangeDays, start: date | None, end: date | None, today: date
) -> tuple[datetime, datetime | None]:
    """Whole UTC days: `start` to the end of `end` when either is given, else the last `days`
    days, today's so far included."""
    if start is None and end is None:
        first = today - timedelta(days=int(days) - 1)
        return datetime.combine(first, time(), UTC), None
    last = end or today
    begin = datetime.combine(start or last - timedelta(days=int(days) - 1), time(), UTC)
    return begin, datetime.combine(last, time(), UTC) + timedelta(days=1)


def day_field(text: str, name: str) -> date | None:
    """A date field of the form (YYYY-MM-DD); empty: None."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise INVALID_RANGE(f"'{name}' is not a date (YYYY-MM-DD).") from None


def chart_uri(found: Overview) -> str:
    """The series chart as a data: URI (the CSP allows `img-src data:`): in the page itself,
    as the page already has its numbers, instead of a second request that reads them again."""
    svg = series_chart(found.stats.timeseries, found.stats.interval)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


@router.get("/overview")
async def overview_page(
    request: Request,
    user: SignedIn,
    overviews: OverviewServiceDep,
    settings: SettingsDep,
    days: RangeDays = "30",
    start_field: Annotated[str, Query(alias="from", max_length=32)] = "",
    end_field: Annotated[str, Query(alias="to", max_length=32)] = "",
    interval: Interval = "day",
    every: bool = False,
) -> Response:
    owner = None if (every and user.is_admin) else user.id
    found, problem, unavailable = None, None, False
    try:
        # The form sends its empty date fields too: empty is "not given", not an error.
        start, end = day_field(start_field, "from"), day_field(end_field, "to")
        begin, until = overview_range(days, start, end, utc_now().date())
        found = await overviews.overview(owner, start=begin, end=until, interval=interval)
    except ProblemError as exc:
        # A range that cannot be had, or stats away for now: the page says which.
        problem, unavailable = exc.detail or exc.problem.title, exc.status >= 500
    top = []
    if found is not None:
        top = [(LinkOut.of(link, settings.public_url), n) for link, n in found.top_links]
    return render(
        request,
        "overview.html",
        user,
        overview=found,
        stats=found.stats if found else None,
        top_links=top,
        chart=chart_uri(found) if found else None,
        problem=problem,
        unavailable=unavailable,
        every=owner is None,
        days=days if not (start_field or end_field) else "",
        start=start_field,
        end=end_field,
        interval=interval,
    )
