"""Orphan visits: requests on a short domain that found no link (Shlink's name and kinds).

They travel in the click pipeline as ordinary click rows (`surge.data.events.ClickRow`), so
they are batched, spooled, delivered at least once and ingested exactly once like clicks:
- `link_id` is `ORPHAN_LINK_ID` (0: no link has it, ids start at 1);
- `slug` is the domain's key and the request path, as a link's cache key is ("/path" on the
  default domain, "go.example.com/path" on another), the path cut at `MAX_ORPHAN_PATH`;
- `target` is the kind.
Rows of a version that knew no orphans never have link id 0, so every old row reads as before.

The kinds, as Shlink defines them (module/Core/src/ErrorHandler/Model/NotFoundType.php): the
domain's root is `base_url`; a path that is a slug but names no link that may be followed now
(unknown, expired, not valid yet: Shlink resolves only enabled short URLs) is
`invalid_short_url`; any other path (it cannot be a slug: "/a/b", "/favicon.ico") is
`regular_404`. A domain's own redirect of such a request (its root, not-found or expired URL)
still counts, as in Shlink.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

from surge.data.contracts import Breakdown, LinkStats

ORPHAN_LINK_ID = 0
OrphanKind = Literal["base_url", "invalid_short_url", "regular_404"]
ORPHAN_KINDS: tuple[OrphanKind, ...] = get_args(OrphanKind)
BASE_URL: OrphanKind = "base_url"
INVALID_SHORT_URL: OrphanKind = "invalid_short_url"
REGULAR_404: OrphanKind = "regular_404"
# What a path is cut to (a breakdown value holds 255 characters; a domain may lead it).
MAX_ORPHAN_PATH = 200


def orphan_slug(domain_key: str, path: str) -> str:
    """What an orphan row carries as its slug: the domain's key and the path, cut short and
    made safe to serialize (a path is decoded from the request: it may hold anything)."""
    cut = path[:MAX_ORPHAN_PATH]
    if not cut.isascii():
        cut = cut.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates: orjson refuses
    return domain_key + cut


def split_orphan_slug(slug: str) -> tuple[str, str]:
    """(domain key, path) of an orphan row's slug; a path keeps its leading slash."""
    domain, slash, path = slug.partition("/")
    return domain, slash + path


def shown_path(domain: str, path: str) -> str:
    """A path as stats list it: with its domain unless it is the default one's."""
    return f"{domain}{path}"


class OrphanStats(LinkStats):
    """A link's stats shape for orphan visits, with their kinds and paths (human visits)."""

    kinds: list[Breakdown] = Field(default_factory=list)
    paths: list[Breakdown] = Field(default_factory=list)


class OrphanVisitsQuery(BaseModel):
    """Raw orphan visits, newest first, one page of them."""

    domain: str | None = None  # a domain's key ('' the default one); None: every domain
    kind: OrphanKind | None = None
    start: datetime | None = None
    end: datetime | None = None
    exclude_bots: bool = False
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=10, ge=1, le=5000)


class OrphanVisitOut(BaseModel):
    occurred_at: datetime
    domain: str  # '' the default domain
    path: str
    kind: OrphanKind
    referrer_host: str | None
    country: str | None
    region: str | None = None
    city: str | None = None
    device: str
    browser: str
    os: str
    is_bot: bool


class OrphanVisitsPage(BaseModel):
    total: int  # visits matching the query, all pages
    items: list[OrphanVisitOut]


class OrphanCounts(BaseModel):
    """All orphan visits so far (from the rollup), humans and bots apart."""

    humans: int
    bots: int


class DeletedOrphanVisits(BaseModel):
    deleted: int  # orphan visits the stats had counted (bots too)
