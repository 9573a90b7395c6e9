"""The orphan-visits page (admins): requests on the short domains that found no link, by kind
and path, over a range, with a chart; and deleting them all, after a confirmation. The same
OrphanVisitService as the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from surge.dashboard.charts import clicks_chart
from surge.dashboard.pages import AdminUser, CheckedForm, render, see_other
from surge.data.contracts import Interval
from surge.domains.deps import DomainServiceDep
from surge.orphans.deps import OrphanVisitServiceDep
from surge.platform.problems import ProblemError

router = APIRouter(prefix="/app/admin/orphans", include_in_schema=False)
PAGE = "/app/admin/orphans"
DomainParam = Annotated[str | None, Query(max_length=260)]
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]
KIND_NAMES = {
    "base_url": "The domain's root (/)",
    "invalid_short_url": "A slug with no link, or an expired one",
    "regular_404": "Any other path",
}
BREAKDOWNS = (
    ("Referrers", "referrers"),
    ("Countries", "countries"),
    ("Browsers", "browsers"),
    ("Operating systems", "oses"),
    ("Devices", "devices"),
)
RECENT = 20


def _range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days, as a link's page reads them."""
    begin = datetime.combine(start, time(), UTC) if start else None
    until = datetime.combine(end, time(), UTC) + timedelta(days=1) if end else None
    return begin, until


def _query(**values: object) -> str:
    shown = urlencode({k: str(v) for k, v in values.items() if v})
    return f"?{shown}" if shown else ""


@router.get("")
async def orphans_page(
    request: Request,
    user: AdminUser,
    orphans: OrphanVisitServiceDep,
    domains: DomainServiceDep,
    interval: Interval = "day",
    start: From = None,
    end: To = None,
    domain: DomainParam = None,
) -> Response:
    begin, until = _range(start, end)
    stats = recent = problem = None
    try:
        stats = await orphans.stats(start=begin, end=until, interval=interval, domain=domain)
        recent = await orphans.visits(domain=domain, limit=RECENT)
    except ProblemError as exc:  # a range that cannot be had, analytics away: the page says so
        problem = exc.detail or exc.problem.title
    query = _query(interval=interval, domain=domain or "", **{"from": start or "", "to": end or ""})
    return render(
        request,
        "orphans.html",
        user,
        stats=stats,
        recent=recent,
        problem=problem,
        interval=interval,
        start=start.isoformat() if start else "",
        end=end.isoformat() if end else "",
        domain=domain or "",
        hosts=[d.host for d in await domains.all()],
        kind_names=KIND_NAMES,
        breakdowns=BREAKDOWNS,
        chart_path=f"{PAGE}/chart.svg{query}",
        url_of=orphans.url_of,
    )


@router.get("/chart.svg")
async def orphans_chart(
    user: AdminUser,
    orphans: OrphanVisitServiceDep,
    interval: Interval = "day",
    start: From = None,
    end: To = None,
    domain: DomainParam = None,
) -> Response:
    begin, until = _range(start, end)
    stats = await orphans.stats(start=begin, end=until, interval=interval, domain=domain)
    return Response(clicks_chart(stats, "Orphan visits"), media_type="image/svg+xml")


@router.get("/delete")
async def orphans_delete_confirm(
    request: Request, user: AdminUser, orphans: OrphanVisitServiceDep
) -> Response:
    counts = await orphans.counts()
    return render(request, "confirm_delete_orphans.html", user, counts=counts)


@router.post("/delete", dependencies=[CheckedForm])
async def orphans_delete(user: AdminUser, orphans: OrphanVisitServiceDep) -> Response:
    await orphans.delete_all()
    return see_other(PAGE)
