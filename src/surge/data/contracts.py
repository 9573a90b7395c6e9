"""REST contracts between the services (JSON bodies of `/internal/...` and proxied stats)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from surge.data.rules import RedirectRule

# What a slug can be: the api accepts no other, the redirect answers 404 to anything else
# without asking the api.
SLUG_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

Interval = Literal["hour", "day"]
# The dimensions clicks are broken down by, each with the `LinkStats` field that lists it.
DIMENSIONS: dict[str, str] = {
    "referrer": "referrers",
    "country": "countries",
    "region": "regions",  # located by GeoIP: "Île-de-France, FR"
    "city": "cities",  # "Paris, Île-de-France, FR"
    "device": "devices",
    "browser": "browsers",
    "os": "oses",
    "target": "targets",  # where a link's redirect rules sent its clicks (links with rules)
}
TOP = 10  # values listed per breakdown, most clicks first, unless a stats query asks for more
MAX_TOP = 300  # enough for every country (ISO 3166 has 249 codes): a world map's query


class ResolvedLink(BaseModel):
    """What the api tells the redirect service about a slug."""

    link_id: int
    slug: str
    url: str
    redirect_type: int
    domain: str = ""  # '' is the default domain
    rules: list[RedirectRule] | None = None  # evaluated by the redirect, first match wins
    expires_at: datetime | None = None
    max_clicks: int | None = None
    clicks: int = 0  # clicks counted so far; only looked up when max_clicks is set
    forward_query: bool = True  # merge the visitor's query string into the target's
    valid_since: datetime | None = None  # before it, answered as an unknown slug
    # A digest of the password's hash (None: not protected): what an unlock cookie is signed
    # over, so a new password voids the cookies of the old. Never the hash itself.
    lock: str | None = None


class CrawlableSlugs(BaseModel):
    """The slugs of a domain's crawlable links: what its robots.txt allows."""

    slugs: list[str]


class Unlock(BaseModel):
    """A password a visitor sent for a protected link, for the api to check."""

    password: str = Field(max_length=1024)


class DomainEntry(BaseModel):
    """What the api tells the redirect service about a Host it serves: the key its links are
    cached under ('' for the default domain) and where its redirects go (None: the pages)."""

    key: str
    root_url: str | None = None
    not_found_url: str | None = None
    expired_url: str | None = None


# An invalidation of this key: every cached entry (a domain changed).
EVERYTHING = "*"


def link_key(domain: str, slug: str) -> str:
    """What a link is cached and invalidated under, in every tier: the redirect builds it from
    the Host's domain key and the request path ("/slug" on the default domain)."""
    return f"{domain}/{slug}"


class Invalidation(BaseModel):
    slugs: list[str]  # cache keys: "{domain}/{slug}", or EVERYTHING


class CountPoint(BaseModel):
    ts: datetime
    clicks: int


class Breakdown(BaseModel):
    value: str
    clicks: int


class LinkStats(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from")
    to: datetime
    interval: Interval
    total: int  # human clicks; bots are counted in bot_clicks only
    unique_visitors: int
    bot_clicks: int
    timeseries: list[CountPoint]
    referrers: list[Breakdown]
    countries: list[Breakdown]
    devices: list[Breakdown]
    browsers: list[Breakdown]
    oses: list[Breakdown]
    # Where the link's redirect rules sent its clicks, by target URL (the link's own included);
    # empty for a link that never had rules.
    targets: list[Breakdown] = Field(default_factory=list)
    # Located by GeoIP (SURGE_GEOIP_DB), each with its country ("Paris, Île-de-France, FR");
    # empty without a database.
    regions: list[Breakdown] = Field(default_factory=list)
    cities: list[Breakdown] = Field(default_factory=list)


class DeletedVisits(BaseModel):
    deleted: int  # clicks the link's stats had counted (bots too)


class ClickCount(BaseModel):
    link_id: int
    clicks: int


def stats_response(stats: LinkStats) -> Response:
    """A validated LinkStats as its JSON, serialized once by pydantic: a route returning the
    model itself would have FastAPI validate it again (an hourly series is 2,160 points)."""
    return Response(stats.model_dump_json(by_alias=True), media_type="application/json")


# --- visits of many links (the api's Shlink REST API) ------------------------------------------


class VisitCounts(BaseModel):
    """A link's all-time clicks, humans and bots apart (from the hourly rollups)."""

    link_id: int
    humans: int
    bots: int


class VisitCountsQuery(BaseModel):
    link_ids: list[int] = Field(max_length=100_000)


class VisitCountsOut(BaseModel):
    items: list[VisitCounts]  # only the links that have clicks


# A statement takes at most ~32,000 parameters (SQLite, asyncpg): one per link id.
MAX_VISITS_LINKS = 20_000


class VisitsQuery(BaseModel):
    """Raw clicks of some links, newest first, one page of them."""

    link_ids: list[int] = Field(max_length=MAX_VISITS_LINKS)
    start: datetime | None = None
    end: datetime | None = None
    exclude_bots: bool = False
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=10, ge=1, le=5000)


class VisitOut(BaseModel):
    link_id: int
    occurred_at: datetime
    referrer_host: str | None
    country: str | None
    device: str
    browser: str
    os: str
    is_bot: bool
    target: str | None = None  # where the link's redirect rules sent it (links with rules)
    region: str | None = None  # located by GeoIP
    city: str | None = None


class VisitsPage(BaseModel):
    total: int  # clicks matching the query, all pages
    items: list[VisitOut]
