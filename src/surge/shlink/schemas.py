"""Shlink's REST API v3 bodies, written from its OpenAPI description (`docs/swagger/` of
shlinkio/shlink: definitions/*.json and the paths' inline schemas). Field names are Shlink's.

Requests are read loosely here (names and JSON types only): the values go on to Surge's own
`LinkCreate` / `LinkUpdate`, which hold every rule about URLs, slugs, dates and limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from surge.links.schemas import TargetUrl

OPEN = ConfigDict(extra="ignore")  # Shlink ignores fields it does not know; so do we


# --- requests ----------------------------------------------------------------------------------


class DeviceLongUrls(BaseModel):
    android: str | None = None
    ios: str | None = None
    desktop: str | None = None


class ShortUrlEdition(BaseModel):
    """definitions/ShortUrlEdition.json: what PATCH /short-urls/{shortCode} may change."""

    model_config = OPEN

    longUrl: str | None = None
    validSince: Any = None
    validUntil: Any = None
    maxVisits: Any = None
    tags: list[Any] | None = None
    title: str | None = None
    crawlable: bool | None = None
    forwardQuery: bool | None = None
    validateUrl: bool | None = None
    deviceLongUrls: DeviceLongUrls | None = None


class ShortUrlCreation(ShortUrlEdition):
    """POST /short-urls: ShortUrlEdition, `longUrl` required, and creation's own fields."""

    longUrl: str
    customSlug: str | None = None
    shortCodeLength: int | None = None
    findIfExists: bool = False
    domain: str | None = None


class TagRenaming(BaseModel):
    model_config = OPEN

    oldName: str
    newName: str


# --- responses ---------------------------------------------------------------------------------


class VisitsSummary(BaseModel):
    """definitions/VisitsSummary.json"""

    total: int
    nonBots: int
    bots: int


class ShortUrlMeta(BaseModel):
    """definitions/ShortUrlMeta.json"""

    validSince: datetime | None
    validUntil: datetime | None
    maxVisits: int | None


class ShortUrl(BaseModel):
    """definitions/ShortUrl.json (v3: `visitsSummary`; `visitsCount` kept, deprecated)."""

    shortCode: str
    shortUrl: str
    longUrl: str
    deviceLongUrls: DeviceLongUrls
    dateCreated: datetime
    visitsCount: int
    visitsSummary: VisitsSummary
    tags: list[str]
    meta: ShortUrlMeta
    domain: str | None
    title: str | None
    crawlable: bool
    forwardQuery: bool
    hasRedirectRules: bool


class Pagination(BaseModel):
    """definitions/Pagination.json"""

    currentPage: int
    pagesCount: int
    itemsPerPage: int
    itemsInCurrentPage: int
    totalItems: int


class ShortUrlsPage(BaseModel):
    data: list[ShortUrl]
    pagination: Pagination


class ShortUrlsList(BaseModel):
    """GET /short-urls"""

    shortUrls: ShortUrlsPage


class VisitLocation(BaseModel):
    """definitions/VisitLocation.json"""

    countryCode: str
    countryName: str
    regionName: str
    cityName: str
    latitude: float
    longitude: float
    timezone: str
    isEmpty: bool


class Visit(BaseModel):
    """definitions/Visit.json"""

    referer: str
    date: datetime
    userAgent: str
    visitLocation: VisitLocation | None
    potentialBot: bool
    visitedUrl: str | None


class VisitsPage(BaseModel):
    data: list[Visit]
    pagination: Pagination


class OrphanVisit(Visit):
    """definitions/OrphanVisit.json: a Visit and its type."""

    type: Literal["invalid_short_url", "base_url", "regular_404"]


class OrphanVisitsPage(BaseModel):
    data: list[OrphanVisit]
    pagination: Pagination


class OrphanVisitsList(BaseModel):
    """GET /visits/orphan (paths/v2_visits_orphan.json)"""

    visits: OrphanVisitsPage


class VisitsDeletion(BaseModel):
    """What DELETE .../visits answers: how many visits went."""

    deletedVisits: int


class VisitsList(BaseModel):
    """GET /short-urls/{shortCode}/visits, /tags/{tag}/visits, /visits/non-orphan, ..."""

    visits: VisitsPage


class VisitsOverviewBody(BaseModel):
    nonOrphanVisits: VisitsSummary
    orphanVisits: VisitsSummary
    visitsCount: int  # deprecated in v3, still sent
    orphanVisitsCount: int


class VisitsOverview(BaseModel):
    """GET /visits (definitions/VisitStats.json)"""

    visits: VisitsOverviewBody


class TagInfo(BaseModel):
    """definitions/TagInfo.json"""

    tag: str
    shortUrlsCount: int
    visitsSummary: VisitsSummary
    visitsCount: int  # deprecated in v3, still sent


class TagsPage(BaseModel):
    data: list[str]
    pagination: Pagination | None = None
    stats: list[TagInfo] | None = None  # `withStats=true`, deprecated in v3


class TagsList(BaseModel):
    """GET /tags"""

    tags: TagsPage


class TagsStatsPage(BaseModel):
    data: list[TagInfo]
    pagination: Pagination


class TagsStats(BaseModel):
    """GET /tags/stats"""

    tags: TagsStatsPage


class NotFoundRedirects(BaseModel):
    """definitions/NotFoundRedirects.json"""

    baseUrlRedirect: str | None = None
    regular404Redirect: str | None = None
    invalidShortUrlRedirect: str | None = None


class ShlinkDomain(BaseModel):
    """definitions/Domain.json"""

    domain: str
    isDefault: bool
    redirects: NotFoundRedirects


class DomainRedirectsEdition(BaseModel):
    """PATCH /domains/redirects: the domain, and the redirects sent (absent: unchanged)."""

    domain: str = Field(min_length=1, max_length=260)
    baseUrlRedirect: TargetUrl | None = None
    regular404Redirect: TargetUrl | None = None
    invalidShortUrlRedirect: TargetUrl | None = None


class DomainsBody(BaseModel):
    data: list[ShlinkDomain]
    defaultRedirects: NotFoundRedirects


class DomainsList(BaseModel):
    """GET /domains"""

    domains: DomainsBody


class HealthLinks(BaseModel):
    about: str
    project: str


class Health(BaseModel):
    """definitions/Health.json"""

    status: Literal["pass", "fail"]
    version: str
    links: HealthLinks


class RedirectCondition(BaseModel):
    """A condition of definitions/ShortUrlRedirectRule.json (the same types as Surge's)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    matchKey: str | None = None
    matchValue: str = ""


class ShortUrlRedirectRule(BaseModel):
    longUrl: str
    priority: int
    conditions: list[RedirectCondition]


class RedirectRules(BaseModel):
    """GET (and POST's answer) /short-urls/{shortCode}/redirect-rules"""

    defaultLongUrl: str
    redirectRules: list[ShortUrlRedirectRule] = Field(default_factory=list)


class SetShortUrlRedirectRule(BaseModel):
    """definitions/SetShortUrlRedirectRule.json"""

    model_config = ConfigDict(extra="ignore")

    longUrl: str
    conditions: list[RedirectCondition]


class SetRedirectRules(BaseModel):
    """POST /short-urls/{shortCode}/redirect-rules: the whole ordered list, replaced."""

    model_config = ConfigDict(extra="ignore")

    redirectRules: list[SetShortUrlRedirectRule] = Field(default_factory=list)


class Error(BaseModel):
    """definitions/Error.json; Shlink adds fields per type (invalidElements, customSlug, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    detail: str
    status: int
