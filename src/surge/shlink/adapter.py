"""Surge's links and clicks in Shlink's shapes, and Shlink's requests as Surge's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from surge.data.contracts import VisitCounts, VisitOut
from surge.data.rules import RedirectRule
from surge.links.repository import Link
from surge.links.schemas import LinkCreate, LinkOut, LinkUpdate, TagRename
from surge.links.slugs import slug_length_problem
from surge.platform.problems import ProblemError
from surge.shlink.countries import NO_COUNTRY, country_name
from surge.shlink.errors import SHLINK_FIELDS, invalid_data
from surge.shlink.schemas import (
    DeviceLongUrls,
    Pagination,
    RedirectCondition,
    RedirectRules,
    SetShortUrlRedirectRule,
    ShortUrl,
    ShortUrlCreation,
    ShortUrlEdition,
    ShortUrlMeta,
    ShortUrlRedirectRule,
    TagRenaming,
    Visit,
    VisitLocation,
    VisitsSummary,
)
from surge.shlink.user_agents import rebuilt_user_agent

DEFAULT_ITEMS_PER_PAGE = 10
MAX_ITEMS_PER_PAGE = 5000  # also what "all" (-1) gets: Shlink's web client pages visits by 5000
DIRECT = "(direct)"  # what analytics stores for a click without a referrer
SURGE_FIELDS = {shlink: surge for surge, shlink in SHLINK_FIELDS.items()}


# --- pages -------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Page:
    number: int
    size: int

    @classmethod
    def of(cls, page: int | None, items_per_page: int | None) -> Page:
        """Shlink's paging: page from 1 (default 1), itemsPerPage default 10, below 1 all."""
        size = DEFAULT_ITEMS_PER_PAGE if items_per_page is None else items_per_page
        if size < 1 or size > MAX_ITEMS_PER_PAGE:
            size = MAX_ITEMS_PER_PAGE
        return cls(max(1, page or 1), size)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def pagination(self, total: int, in_page: int) -> Pagination:
        return Pagination(
            currentPage=self.number,
            pagesCount=max(1, math.ceil(total / self.size)),  # Shlink: one page, even empty
            itemsPerPage=self.size,
            itemsInCurrentPage=in_page,
            totalItems=total,
        )


# --- responses ---------------------------------------------------------------------------------


def summary(counts: VisitCounts | None) -> VisitsSummary:
    humans, bots = (counts.humans, counts.bots) if counts else (0, 0)
    return VisitsSummary(total=humans + bots, nonBots=humans, bots=bots)


def short_url(link: Link, public_url: str, counts: VisitCounts | None) -> ShortUrl:
    values = link.values
    visits = summary(counts)
    return ShortUrl(
        shortCode=link.slug,
        shortUrl=LinkOut.of(link, public_url).short_url,
        longUrl=values.url,
        deviceLongUrls=device_long_urls(values.rules),
        dateCreated=link.created_at,
        visitsCount=visits.total,
        visitsSummary=visits,
        tags=list(values.tags),
        meta=ShortUrlMeta(
            validSince=values.valid_since,
            validUntil=values.expires_at,
            maxVisits=values.max_clicks,
        ),
        domain=link.domain or None,  # None: Shlink's "the default domain"
        title=values.title,
        crawlable=values.crawlable,
        forwardQuery=values.forward_query,
        hasRedirectRules=bool(values.rules),
    )


def visit_location(
    country: str | None, region: str | None = None, city: str | None = None
) -> VisitLocation | None:
    """Shlink's location of a visit: its country (the edge's header, else GeoIP), region and
    city (GeoIP); what is not known is empty, as Shlink leaves what its own GeoIP lookup did
    not find. Surge keeps no coordinates or time zone. No country is null, as Shlink's visits
    that were never located."""
    if not country or country == NO_COUNTRY:
        return None
    return VisitLocation(
        countryCode=country,
        countryName=country_name(country) or country,  # a code of the edge's own (T1: Tor)
        regionName=region or "",
        cityName=city or "",
        latitude=0.0,
        longitude=0.0,
        timezone="",
        isEmpty=False,
    )


def visit(click: VisitOut, visited_url: str) -> Visit:
    referrer = click.referrer_host
    return Visit(
        referer="" if referrer in (None, DIRECT) else referrer,
        date=click.occurred_at,
        # Surge keeps the parsed families, never the raw user agent: one rebuilt from them.
        userAgent=rebuilt_user_agent(click.browser, click.os, click.device),
        visitLocation=visit_location(click.country, click.region, click.city),
        potentialBot=click.is_bot,
        visitedUrl=visited_url,
    )


# --- requests ----------------------------------------------------------------------------------


def _surge_body(body: ShortUrlEdition, fields: set[str]) -> dict[str, Any]:
    mapped: dict[str, Any] = {}
    for shlink_name, surge_name in SURGE_FIELDS.items():
        if shlink_name in fields:
            mapped[surge_name] = getattr(body, shlink_name)
    return mapped


def _invalid(exc: ValidationError) -> ProblemError:
    elements = [SHLINK_FIELDS.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors()]
    detail = "; ".join(
        f"{SHLINK_FIELDS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()
    )
    return invalid_data(elements, detail)


def link_create(body: ShortUrlCreation) -> LinkCreate:
    """Surge's creation request for Shlink's, validated by Surge's own rules."""
    # Shlink's least, 4, is Surge's too; its most is what a Surge slug may be (Shlink has none).
    length_problem = (
        None if body.shortCodeLength is None else slug_length_problem(body.shortCodeLength)
    )
    if length_problem:
        raise invalid_data(["shortCodeLength"], f"shortCodeLength: {length_problem}")
    fields = set(body.model_fields_set) | {"longUrl"}
    if body.customSlug is not None:
        fields.add("customSlug")
    mapped = {k: v for k, v in _surge_body(body, fields).items() if v is not None or k == "url"}
    if body.domain:
        mapped["domain"] = body.domain
    if body.deviceLongUrls is not None:
        mapped["rules"] = with_device_long_urls([], body.deviceLongUrls)
    try:
        return LinkCreate.model_validate(mapped)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def link_update(body: ShortUrlEdition) -> LinkUpdate:
    """Surge's change request for Shlink's: only the fields sent; null clears a limit."""
    mapped = _surge_body(body, set(body.model_fields_set))
    for never_null in ("url", "tags", "crawlable", "forward_query"):
        if never_null in mapped and mapped[never_null] is None:
            del mapped[never_null]  # Shlink: null is "unchanged" for these
    try:
        return LinkUpdate.model_validate(mapped)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def tag_rename(body: TagRenaming) -> TagRename:
    """Surge's renaming of a tag for Shlink's, its new name checked as Surge checks tags."""
    try:
        return TagRename.model_validate({"name": body.newName})
    except ValidationError as exc:
        raise invalid_data(["newName"], f"newName: {exc.errors()[0]['msg']}") from exc


# --- redirect rules ----------------------------------------------------------------------------

DEVICE_LONG_URLS = ("android", "ios", "desktop")


def device_long_urls(rules: Sequence[RedirectRule]) -> DeviceLongUrls:
    """Shlink's older shape of device rules: the URL of each one-condition device rule."""
    found: dict[str, str] = {}
    for rule in rules:
        conditions = rule.conditions
        if len(conditions) == 1 and conditions[0].type == "device":
            device = conditions[0].value
            if device in DEVICE_LONG_URLS:
                found.setdefault(device, rule.url)
    return DeviceLongUrls(**found)


def with_device_long_urls(
    rules: Sequence[dict[str, Any]], device_urls: DeviceLongUrls
) -> list[dict[str, Any]]:
    """`rules` with each device of `deviceLongUrls` as a one-condition rule (a null URL drops
    that device's rule), in Surge's request shape."""
    sent = device_urls.model_fields_set
    kept = [
        r
        for r in rules
        if not (
            len(r["conditions"]) == 1
            and r["conditions"][0]["type"] == "device"
            and r["conditions"][0]["value"] in sent
        )
    ]
    added = [
        {"url": url, "conditions": [{"type": "device", "value": device}]}
        for device in DEVICE_LONG_URLS
        if device in sent and (url := getattr(device_urls, device)) is not None
    ]
    return kept + added


def rules_body(rules: Sequence[SetShortUrlRedirectRule]) -> list[dict[str, Any]]:
    """Shlink's rules as Surge's request shape (validated by LinkUpdate)."""
    return [
        {
            "url": r.longUrl,
            "conditions": [
                {"type": c.type, "key": c.matchKey, "value": c.matchValue} for c in r.conditions
            ],
        }
        for r in rules
    ]


def redirect_rules(link: Link) -> RedirectRules:
    return RedirectRules(
        defaultLongUrl=link.values.url,
        redirectRules=[
            ShortUrlRedirectRule(
                longUrl=rule.url,
                priority=i + 1,
                conditions=[
                    RedirectCondition(type=c.type, matchKey=c.key, matchValue=c.value)
                    for c in rule.conditions
                ],
            )
            for i, rule in enumerate(link.values.rules)
        ],
    )


def rules_update(rules: Sequence[SetShortUrlRedirectRule]) -> LinkUpdate:
    try:
        return LinkUpdate.model_validate({"rules": rules_body(rules)})
    except ValidationError as exc:
        raise _invalid(exc) from exc
