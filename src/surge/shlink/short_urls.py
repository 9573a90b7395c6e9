"""Shlink's short URL endpoints: list, create (and the one-step `shorten`), get, edit, delete,
redirect rules. Each is a thin adapter over `LinkService`, which owns every rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from surge.accounts.deps import ApiLimitsDep, KeyServiceDep
from surge.accounts.key_repository import ApiKey
from surge.accounts.limits import ApiLimits
from surge.links.deps import LinkServiceDep
from surge.links.repository import Link, LinkFilter
from surge.links.schemas import Timestamp
from surge.links.service import LinkService
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.deps import SettingsDep
from surge.platform.problems import NOT_FOUND, SLUG_TAKEN, ProblemError
from surge.shlink.adapter import Page, is_our_domain, link_create, link_update, short_url
from surge.shlink.deps import ShlinkKey, authenticate
from surge.shlink.errors import (
    NON_UNIQUE_SLUG,
    SHORT_URL_NOT_FOUND,
    ShlinkRoute,
    invalid_data,
)
from surge.shlink.schemas import (
    RedirectRules,
    ShortUrl,
    ShortUrlCreation,
    ShortUrlEdition,
    ShortUrlsList,
    ShortUrlsPage,
)

router = APIRouter(prefix="/rest/v{version}", route_class=ShlinkRoute, include_in_schema=False)
Version = Literal["1", "2", "3"]  # v3's answers on every version: clients of v2 read them too

OrderBy = Literal[
    "longUrl-ASC",
    "longUrl-DESC",
    "shortCode-ASC",
    "shortCode-DESC",
    "dateCreated-ASC",
    "dateCreated-DESC",
    "visits-ASC",
    "visits-DESC",
    "nonBotVisits-ASC",
    "nonBotVisits-DESC",
    "title-ASC",
    "title-DESC",
]


def check_domain(settings: Settings, domain: str | None, short_code: str = "") -> None:
    """Surge has one domain, the short domain: any other names no short URL."""
    if not is_our_domain(domain, settings.public_host):
        raise SHORT_URL_NOT_FOUND(
            f'No URL found with short code "{short_code}" for domain "{domain}"',
            shortCode=short_code,
            domain=domain,
        )


@contextmanager
def short_code_found(short_code: str) -> Iterator[None]:
    """Surge's not-found of a link, said as Shlink says it."""
    try:
        yield
    except ProblemError as exc:
        if exc.problem is NOT_FOUND:
            raise SHORT_URL_NOT_FOUND(
                f'No URL found with short code "{short_code}"', shortCode=short_code
            ) from exc
        raise


async def owned_link(
    links: LinkService, key: ApiKey, settings: Settings, short_code: str, domain: str | None
) -> Link:
    """The key's link `short_code` on `domain` (Surge's one domain), or Shlink's not-found."""
    check_domain(settings, domain, short_code)
    with short_code_found(short_code):
        return await links.get(key.owner_scope, short_code)


async def counted(link: Link, links: LinkService, settings: Settings) -> ShortUrl:
    """A short URL as Shlink shows it, with its visits."""
    counts = await links.visit_counts([link.id])
    return short_url(link, settings.public_url, counts.get(link.id))


@router.get("/short-urls")
async def list_short_urls(
    version: Version,
    key: ShlinkKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    page: int | None = None,
    items_per_page: Annotated[int | None, Query(alias="itemsPerPage")] = None,
    search_term: Annotated[str | None, Query(alias="searchTerm", max_length=200)] = None,
    tags: Annotated[list[str] | None, Query(alias="tags[]")] = None,
    tags_mode: Annotated[Literal["any", "all"], Query(alias="tagsMode")] = "any",
    order_by: Annotated[OrderBy | None, Query(alias="orderBy")] = None,
    start_date: Annotated[Timestamp | None, Query(alias="startDate")] = None,
    end_date: Annotated[Timestamp | None, Query(alias="endDate")] = None,
    exclude_max_visits_reached: Annotated[bool, Query(alias="excludeMaxVisitsReached")] = False,
    exclude_past_valid_until: Annotated[bool, Query(alias="excludePastValidUntil")] = False,
    domain: str | None = None,
) -> ShortUrlsList:
    check_domain(settings, domain)
    paging = Page.of(page, items_per_page)
    field, _, direction = (order_by or "dateCreated-DESC").partition("-")
    by_visits = field in ("visits", "nonBotVisits")
    heads = await links.heads(
        key.owner_scope,
        LinkFilter(
            search=search_term or None,
            tags=tuple(tags or ()),
            all_tags=tags_mode == "all",
            created_from=start_date,
            created_to=end_date,
            live_at=utc_now() if exclude_past_valid_until else None,
        ),
        # Surge links have no title: ordering by it is ordering by creation, as Shlink orders
        # links without a title.
        order=field if field in ("longUrl", "shortCode") else "dateCreated",
        descending=direction == "DESC",
    )
    # Visits live in analytics: ordering or filtering by them needs every candidate's counts.
    counted = by_visits or exclude_max_visits_reached
    counts = await links.visit_counts([h.id for h in heads]) if counted else {}
    if exclude_max_visits_reached:
        heads = [
            h
            for h in heads
            if h.max_clicks is None
            or (c := counts.get(h.id)) is None
            or c.humans + c.bots < h.max_clicks
        ]
    if by_visits:

        def visits_of(link_id: int) -> int:
            c = counts.get(link_id)
            return 0 if c is None else c.humans + (0 if field == "nonBotVisits" else c.bots)

        heads.sort(key=lambda h: visits_of(h.id), reverse=direction == "DESC")
    chosen = [h.id for h in heads[paging.offset : paging.offset + paging.size]]
    found = await links.by_ids(chosen)
    if not counted:
        counts = await links.visit_counts(chosen)
    data = [short_url(link, settings.public_url, counts.get(link.id)) for link in found]
    return ShortUrlsList(
        shortUrls=ShortUrlsPage(data=data, pagination=paging.pagination(len(heads), len(data)))
    )


async def create(
    request: Request,
    key: ApiKey,
    body: ShortUrlCreation,
    links: LinkService,
    limits: ApiLimits,
    settings: Settings,
) -> ShortUrl:
    if not is_our_domain(body.domain, settings.public_host):
        raise invalid_data(["domain"], f"domain: Surge serves only {settings.public_host}")
    wanted = link_create(body)
    if body.findIfExists:
        existing = await links.find_same(key.user_id, wanted)
        if existing is not None:
            return await counted(existing, links, settings)
    await limits.link_created(request, key.id)
    try:
        link = await links.create(key.user_id, wanted)
    except ProblemError as exc:
        if exc.problem is SLUG_TAKEN:
            raise NON_UNIQUE_SLUG(
                f'Provided slug "{wanted.slug}" is already in use.', customSlug=wanted.slug
            ) from exc
        raise
    return short_url(link, settings.public_url, None)


@router.post("/short-urls")
async def create_short_url(
    version: Version,
    request: Request,
    body: ShortUrlCreation,
    key: ShlinkKey,
    links: LinkServiceDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
) -> ShortUrl:
    """Shlink answers 200 (not 201) with the short URL."""
    return await create(request, key, body, links, limits, settings)


@router.get("/short-urls/shorten", response_model=None)
async def shorten(
    version: Version,
    request: Request,
    keys: KeyServiceDep,
    links: LinkServiceDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
    long_url: Annotated[str, Query(alias="longUrl")],
    api_key: Annotated[str | None, Query(alias="apiKey")] = None,
    output: Annotated[Literal["json", "txt"], Query(alias="format")] = "json",
) -> ShortUrl | PlainTextResponse:
    """The one-step creation for tools that can only open a URL: the key in the query."""
    key = await authenticate(
        request,
        keys,
        limits,
        api_key or "",
        'Expected authentication to be provided in "apiKey" query param',
    )
    created = await create(
        request, key, ShortUrlCreation(longUrl=long_url), links, limits, settings
    )
    if output == "txt":
        return PlainTextResponse(created.shortUrl)
    return created


@router.get("/short-urls/{short_code}")
async def get_short_url(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: str | None = None,
) -> ShortUrl:
    return await counted(
        await owned_link(links, key, settings, short_code, domain), links, settings
    )


@router.patch("/short-urls/{short_code}")
async def edit_short_url(
    version: Version,
    short_code: str,
    body: ShortUrlEdition,
    key: ShlinkKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: str | None = None,
) -> ShortUrl:
    changes = link_update(body)
    await owned_link(links, key, settings, short_code, domain)  # not-found before the checks
    link = await links.update(key.owner_scope, short_code, changes)
    return await counted(link, links, settings)


@router.delete("/short-urls/{short_code}", status_code=204)
async def delete_short_url(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: str | None = None,
) -> Response:
    """Deleted whatever its visits: Shlink's visits threshold is a setting Surge does not have."""
    check_domain(settings, domain, short_code)
    with short_code_found(short_code):
        await links.delete(key.owner_scope, short_code)
    return Response(status_code=204)


@router.get("/short-urls/{short_code}/redirect-rules")
async def redirect_rules(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: str | None = None,
) -> RedirectRules:
    """Surge has no redirect rules: every short URL answers an empty list."""
    link = await owned_link(links, key, settings, short_code, domain)
    return RedirectRules(defaultLongUrl=link.values.url)
