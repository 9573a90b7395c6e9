"""Shlink's short URL endpoints: list, create (and the one-step `shorten`), get, edit, delete,
redirect rules. Each reads its request and calls `ShlinkService` (over `LinkService`, which owns
every rule of links)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from surge.accounts.deps import ApiLimitsDep, KeyServiceDep
from surge.accounts.key_repository import ApiKey
from surge.accounts.limits import ApiLimits
from surge.links.repository import LinkFilter
from surge.links.schemas import Timestamp
from surge.platform.clock import utc_now
from surge.shlink.adapter import Page, link_create, link_update, rules_update
from surge.shlink.adapter import redirect_rules as adapter_redirect_rules
from surge.shlink.deps import ShlinkKey, authenticate
from surge.shlink.errors import ShlinkRoute
from surge.shlink.schemas import (
    RedirectRules,
    SetRedirectRules,
    ShortUrl,
    ShortUrlCreation,
    ShortUrlEdition,
    ShortUrlsList,
)
from surge.shlink.service import ShlinkService, ShlinkServiceDep, ShortUrlsQuery

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


@router.get("/short-urls")
async def list_short_urls(
    version: Version,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
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
    host = None if domain is None else await shlink.domain_key(domain)
    query = ShortUrlsQuery(
        match=LinkFilter(
            domain=host,
            search=search_term or None,
            tags=tuple(tags or ()),
            all_tags=tags_mode == "all",
            created_from=start_date,
            created_to=end_date,
            live_at=utc_now() if exclude_past_valid_until else None,
        ),
        order_by=order_by or "dateCreated-DESC",
        exclude_max_visits_reached=exclude_max_visits_reached,
        paging=Page.of(page, items_per_page),
    )
    return await shlink.short_urls(key, query)


async def create(
    request: Request,
    key: ApiKey,
    body: ShortUrlCreation,
    shlink: ShlinkService,
    limits: ApiLimits,
) -> ShortUrl:
    await shlink.check_creation_domain(body.domain)
    wanted = link_create(body)
    if body.findIfExists:
        existing = await shlink.existing(key, wanted)
        if existing is not None:
            return existing
    await limits.link_created(request, key.id)
    return await shlink.create(key, wanted, body.shortCodeLength)


@router.post("/short-urls")
async def create_short_url(
    version: Version,
    request: Request,
    body: ShortUrlCreation,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    limits: ApiLimitsDep,
) -> ShortUrl:
    """Shlink answers 200 (not 201) with the short URL."""
    return await create(request, key, body, shlink, limits)


@router.get("/short-urls/shorten", response_model=None)
async def shorten(
    version: Version,
    request: Request,
    keys: KeyServiceDep,
    shlink: ShlinkServiceDep,
    limits: ApiLimitsDep,
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
    created = await create(request, key, ShortUrlCreation(longUrl=long_url), shlink, limits)
    if output == "txt":
        return PlainTextResponse(created.shortUrl)
    return created


@router.get("/short-urls/{short_code}")
async def get_short_url(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> ShortUrl:
    return await shlink.counted(await shlink.owned(key, short_code, domain))


@router.patch("/short-urls/{short_code}")
async def edit_short_url(
    version: Version,
    short_code: str,
    body: ShortUrlEdition,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> ShortUrl:
    return await shlink.edit(key, short_code, domain, link_update(body), body.deviceLongUrls)


@router.delete("/short-urls/{short_code}", status_code=204)
async def delete_short_url(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> Response:
    """Deleted whatever its visits: Shlink's visits threshold is a setting Surge does not have."""
    await shlink.delete(key, short_code, domain)
    return Response(status_code=204)


@router.get("/short-urls/{short_code}/redirect-rules")
async def redirect_rules(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> RedirectRules:
    """The link's rules in order (priority from 1), and the URL when none matches."""
    return adapter_redirect_rules(await shlink.owned(key, short_code, domain))


@router.post("/short-urls/{short_code}/redirect-rules")
async def set_redirect_rules(
    version: Version,
    short_code: str,
    body: SetRedirectRules,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> RedirectRules:
    """Replace the link's rules with this ordered list (empty: none)."""
    return await shlink.set_rules(key, short_code, domain, rules_update(body.redirectRules))
