"""What the api and analytics agree on to export a link's raw visits: one keyset page of them.

A download of a link's visits is read from analytics page by page, in the order of the index
`clicks (link_id, occurred_at, id)`: each page starts after the last (time, id) of the one
before, so every page is one range of the index, whatever the number of visits before it,
and a visit stored meanwhile is listed at most once (none is listed twice, none skipped
among those there at the start).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# Visits per page between analytics and the api: big enough that a million visits are a few
# hundred requests, small enough that a page (~0.5 MB of JSON) is a bounded piece of memory
# and reading or validating one holds the event loop for a few ms, not tens (in the all-in-one
# process the loop also serves redirects).
EXPORT_CHUNK = 2000
MAX_EXPORT_CHUNK = 20_000

ExportFormat = Literal["json", "csv"]

# The columns of a download, in order; a visitor's IP is never stored, and the daily visitor
# hash (how unique visitors are counted) is left out: it would let a reader follow one person
# through a day's visits.
VISIT_COLUMNS = (
    "id",
    "time",
    "referrer",
    "country",
    "region",
    "city",
    "device",
    "browser",
    "os",
    "bot",
    "target",
)


class ExportedVisit(BaseModel):
    """One raw visit, as a download in JSON lists it (the OpenAPI description's schema)."""

    id: str  # the click's id: unique, to tell the overlap of two downloads apart
    time: datetime  # UTC, to the microsecond: 2026-12-07T11:53:46.123456Z
    referrer: str | None  # the referring host; None: none was sent (or not recorded)
    country: str | None
    region: str | None
    city: str | None
    device: str
    browser: str
    os: str
    bot: bool
    target: str | None  # where the link's redirect rules sent it (links with rules)


# One visit between analytics and the api: its values in the order of VISIT_COLUMNS, the time
# as the text a download shows. A tuple, not a model: a million of them are validated and
# written out per download, and a model per row cost more than all the rest of the work.
VisitRow = tuple[
    str,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str,
    str,
    str,
    bool,
    str | None,
]


class VisitCursor(BaseModel):
    """The last visit of a page: the next page starts after it."""

    time: datetime
    id: str = Field(max_length=64)


class VisitChunk(BaseModel):
    items: list[VisitRow]
    next: VisitCursor | None  # None: this was the last page
