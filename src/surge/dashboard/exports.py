"""Dashboard downloads of a link: its visits (CSV, JSON) and its stats (CSV), for the range its
page shows, through the same service as the API's (surge.links.exports)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from surge.dashboard.links import DomainParam, _range
from surge.dashboard.pages import SignedIn, link_path, templates
from surge.data.contracts import Interval
from surge.data.visit_export import ExportFormat
from surge.links.deps import LinkExportsDep
from surge.links.schemas import LinkOut

router = APIRouter(prefix="/app", include_in_schema=False)
FromDay = Annotated[date | None, Query(alias="from")]
ToDay = Annotated[date | None, Query(alias="to")]

# What a download takes of its page's query: the range (and interval) the page shows.
SHOWN = ("interval", "from", "to")


def download_path(request: Request, link: LinkOut, suffix: str) -> str:
    """A download of the link's page (`suffix`: /visits.csv, ...) for the range it shows."""
    shown = {name: value for name in SHOWN if (value := request.query_params.get(name))}
    return link_path(request, link, suffix, **shown)


templates.env.globals["download_path"] = download_path


@router.get("/links/{slug}/visits.{fmt}")
async def download_visits(
    slug: str,
    fmt: ExportFormat,
    user: SignedIn,
    exports: LinkExportsDep,
    start: FromDay = None,
    end: ToDay = None,
    domain: DomainParam = None,
) -> StreamingResponse:
    """The visits of the days the page shows (whole UTC days; none chosen: all of them)."""
    begin, until = _range(start, end)
    download = await exports.visits(
        user.owner_scope, slug, fmt, start=begin, end=until, domain=domain
    )
    return download.response()


@router.get("/links/{slug}/stats.csv")
async def download_stats(
    slug: str,
    user: SignedIn,
    exports: LinkExportsDep,
    interval: Interval = "day",
    start: FromDay = None,
    end: ToDay = None,
    domain: DomainParam = None,
) -> StreamingResponse:
    """The stats the page shows, every value of each breakdown."""
    begin, until = _range(start, end)
    download = await exports.stats_csv(
        user.owner_scope, slug, start=begin, end=until, interval=interval, domain=domain
    )
    return download.response()
