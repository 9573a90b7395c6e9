"""Downloads of a link: its raw visits (CSV or JSON) and its stats (CSV), for every door.

A download of visits is streamed: analytics is asked for one page of a few thousand visits at a
time (keyset paging, `surge.data.visit_export`), each page is written out and let go before the
next is asked for, so the api's memory stays flat whatever the number of visits. The first page
is read before the download starts: an unknown link, another owner's, or analytics being away
is still a problem answer (404, 503), not a download cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from starlette.responses import StreamingResponse

from surge.data.contracts import MAX_TOP, Interval
from surge.data.visit_export import EXPORT_CHUNK, ExportFormat, VisitChunk, VisitRow
from surge.links.analytics_client import AnalyticsDown, VisitsClient
from surge.links.export_formats import (
    JSON_END,
    stats_csv,
    visits_csv,
    visits_csv_header,
    visits_json,
)
from surge.links.service import LinkService
from surge.platform.breakers import BreakerOpen
from surge.platform.http import idempotent_retries
from surge.platform.logging import get_logger
from surge.platform.problems import ANALYTICS_UNAVAILABLE, ProblemError

log = get_logger(__name__)

WRITE_SLICE = 500  # visits written out per send: ~1-2 ms of the event loop each

MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8; header=present",
    "json": "application/json",
}


class DownloadCut(Exception):
    """A download that could not go on once started (analytics went away): the server ends
    the response unfinished. Not a problem answer: its status and headers are sent already."""


@dataclass(slots=True, frozen=True)
class Download:
    filename: str
    media_type: str
    body: AsyncIterator[bytes]

    def response(self) -> StreamingResponse:
        """The download as every door answers it (slugs are [A-Za-z0-9_-]: the file name
        needs no quoting)."""
        return StreamingResponse(
            self.body,
            media_type=self.media_type,
            headers={"Content-Disposition": f'attachment; filename="{self.filename}"'},
        )


def _unavailable() -> ProblemError:
    return ANALYTICS_UNAVAILABLE(
        "Analytics did not answer; try again shortly.", headers={"Retry-After": "5"}
    )


def utc_bound(moment: datetime | None, *, start: bool) -> tuple[datetime | None, bool]:
    """A range's bound in UTC, and whether the range can hold anything at all. A zone can put
    a time outside what a datetime holds in UTC (0001-01-01T00:00:00+05:00,
    9999-12-31T23:59:59-05:00): such a bound is no bound at all, or a range with nothing in it
    (a `from` past the last time there is, a `to` before the first)."""
    if moment is None:
        return None, True
    try:
        return moment.astimezone(UTC), True
    except OverflowError:
        after_everything = moment.year == datetime.max.year
        if start:
            return None, not after_everything
        return None, after_everything


class VisitPages:
    """Analytics' pages of a link's visits, over the api's analytics client (its breaker)."""

    def __init__(self, analytics: VisitsClient) -> None:
        self.analytics = analytics

    async def page(
        self,
        link_id: int,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
    ) -> VisitChunk:
        params: dict[str, str | int] = {"limit": EXPORT_CHUNK}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        if after is not None:
            params["after_time"], params["after_id"] = after[0].isoformat(), after[1]
        breaker = self.analytics.breaker
        try:
            async for attempt in idempotent_retries():  # a read: safe to send again
                with attempt:
                    async with nullcontext() if breaker is None else breaker.guard():
                        response = await self.analytics.client.get(
                            f"/internal/analytics/links/{link_id}/visits", params=params
                        )
                        if response.status_code >= 500:
                            raise AnalyticsDown(response.status_code)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _unavailable() from exc
        if response.status_code == 200:
            try:
                return VisitChunk.model_validate_json(response.content)
            except ValueError:
                log.warning("visits_unreadable", link_id=link_id)
        raise _unavailable()


class LinkExports:
    """What the API and the dashboard download, through the same link service (ownership, the
    domain) and analytics client."""

    def __init__(self, links: LinkService) -> None:
        self.links = links
        self.pages = VisitPages(links.analytics)

    async def visits(
        self,
        owner_id: int | None,
        slug: str,
        fmt: ExportFormat,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        domain: str | None = None,
    ) -> Download:
        """Every visit of the link in [start, end) (None: no bound), oldest first; a range with
        nothing in it is a download with no visits."""
        link = await self.links.get(owner_id, slug, domain)
        start, start_ok = utc_bound(start, start=True)
        end, end_ok = utc_bound(end, start=False)
        empty = not (start_ok and end_ok)
        empty = empty or (start is not None and end is not None and start >= end)
        first = VisitChunk(items=[], next=None)
        if not empty:
            first = await self.pages.page(link.id, start, end, None)
        write = _writer(fmt)

        async def body() -> AsyncIterator[bytes]:
            chunk, written, is_first = first, 0, True
            upcoming: asyncio.Task[VisitChunk] | None = None
            try:
                while True:
                    # The next page is asked for before this one is written out and sent:
                    # analytics reads it meanwhile. Two pages at most are held at once.
                    if chunk.next is not None:
                        after = (chunk.next.time, chunk.next.id)
                        upcoming = asyncio.create_task(self.pages.page(link.id, start, end, after))
                    # A slice at a time: each is a send, so the event loop (in the all-in-one
                    # also the redirect's) serves others between them.
                    for at in range(0, max(len(chunk.items), 1), WRITE_SLICE):
                        yield write(chunk.items[at : at + WRITE_SLICE], is_first)
                        is_first = False
                    written += len(chunk.items)
                    if upcoming is None:
                        break
                    try:
                        chunk = await upcoming
                    except ProblemError as exc:
                        # Headers are sent: all that is left is to end the download unfinished
                        # (the client sees a cut transfer, never a complete-looking file).
                        log.warning("export_cut_short", link_id=link.id, written=written)
                        raise DownloadCut(f"{written} visits sent, then: {exc.detail}") from exc
                    upcoming = None
                if fmt == "json":
                    yield JSON_END
            finally:
                if upcoming is not None:  # the client went away mid-download
                    upcoming.cancel()

        return Download(f"{slug}-visits.{fmt}", MEDIA_TYPES[fmt], body())

    async def stats_csv(
        self,
        owner_id: int | None,
        slug: str,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        domain: str | None = None,
    ) -> Download:
        """The link's stats as the API's JSON has them, but every value of each breakdown (up
        to MAX_TOP), as CSV (stats_csv)."""
        stats = await self.links.stats(
            owner_id, slug, start=start, end=end, interval=interval, domain=domain, top=MAX_TOP
        )

        async def body() -> AsyncIterator[bytes]:
            yield stats_csv(stats)

        return Download(f"{slug}-stats.csv", MEDIA_TYPES["csv"], body())


def _writer(fmt: ExportFormat) -> Callable[[list[VisitRow], bool], bytes]:
    """(a page's visits, whether it is the first) → its bytes in the download."""
    if fmt == "json":
        return lambda visits, first: visits_json(visits, first=first)

    def write_csv(visits: list[VisitRow], first: bool) -> bytes:
        rows = visits_csv(visits)
        return visits_csv_header() + rows if first else rows

    return write_csv
