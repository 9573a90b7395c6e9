"""Shlink's tags, domains, health and Mercure endpoints, CORS preflight and unknown paths."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from surge import __version__
from surge.links.deps import LinkServiceDep
from surge.links.service import LinkService
from surge.platform.deps import SettingsDep
from surge.platform.health import database_ok
from surge.shlink.adapter import Page, summary
from surge.shlink.cors import preflight
from surge.shlink.deps import ShlinkKey
from surge.shlink.errors import (
    FORBIDDEN_TAG_OPERATION,
    MERCURE_NOT_CONFIGURED,
    NOT_FOUND_SHLINK,
    ShlinkRoute,
)
from surge.shlink.schemas import (
    Domain,
    DomainsBody,
    DomainsList,
    Health,
    HealthLinks,
    NotFoundRedirects,
    TagInfo,
    TagsList,
    TagsPage,
    TagsStats,
    TagsStatsPage,
)
from surge.shlink.short_urls import Version

router = APIRouter(route_class=ShlinkRoute, include_in_schema=False)
V = "/rest/v{version}"
# The Shlink API version Surge answers as (`/rest/health`): clients choose features by it.
SHLINK_VERSION = "3.7.0"
TagsOrder = Literal[
    "tag-ASC",
    "tag-DESC",
    "shortUrlsCount-ASC",
    "shortUrlsCount-DESC",
    "visits-ASC",
    "visits-DESC",
    "nonBotVisits-ASC",
    "nonBotVisits-DESC",
]


async def tag_infos(links: LinkService, owner_id: int | None) -> list[TagInfo]:
    by_tag: dict[str, list[int]] = defaultdict(list)
    for tag, link_id in await links.tagged(owner_id):
        by_tag[tag].append(link_id)
    counts = await links.visit_counts(sorted({i for ids in by_tag.values() for i in ids}))
    infos = []
    for tag, ids in by_tag.items():
        humans = sum(counts[i].humans for i in ids if i in counts)
        bots = sum(counts[i].bots for i in ids if i in counts)
        visits_summary = summary(None).model_copy(
            update={"total": humans + bots, "nonBots": humans, "bots": bots}
        )
        infos.append(
            TagInfo(
                tag=tag,
                shortUrlsCount=len(ids),
                visitsSummary=visits_summary,
                visitsCount=visits_summary.total,
            )
        )
    return infos


def ordered(infos: list[TagInfo], search: str | None, order_by: TagsOrder | None) -> list[TagInfo]:
    if search:
        infos = [i for i in infos if search.lower() in i.tag.lower()]
    field, _, direction = (order_by or "tag-ASC").partition("-")
    keys = {
        "tag": lambda i: i.tag,
        "shortUrlsCount": lambda i: i.shortUrlsCount,
        "visits": lambda i: i.visitsSummary.total,
        "nonBotVisits": lambda i: i.visitsSummary.nonBots,
    }
    return sorted(infos, key=keys[field], reverse=direction == "DESC")


@router.get(V + "/tags")
async def list_tags(
    version: Version,
    key: ShlinkKey,
    links: LinkServiceDep,
    page: int | None = None,
    items_per_page: Annotated[int | None, Query(alias="itemsPerPage")] = None,
    search_term: Annotated[str | None, Query(alias="searchTerm")] = None,
    order_by: Annotated[TagsOrder | None, Query(alias="orderBy")] = None,
    with_stats: Annotated[bool, Query(alias="withStats")] = False,
) -> TagsList:
    infos = ordered(await tag_infos(links, key.owner_scope), search_term, order_by)
    paging = Page.of(page, items_per_page if items_per_page is not None else -1)
    chosen = infos[paging.offset : paging.offset + paging.size]
    return TagsList(
        tags=TagsPage(
            data=[i.tag for i in chosen],
            pagination=paging.pagination(len(infos), len(chosen)),
            stats=chosen if with_stats else None,
        )
    )


@router.get(V + "/tags/stats")
async def tags_stats(
    version: Version,
    key: ShlinkKey,
    links: LinkServiceDep,
    page: int | None = None,
    items_per_page: Annotated[int | None, Query(alias="itemsPerPage")] = None,
    search_term: Annotated[str | None, Query(alias="searchTerm")] = None,
    order_by: Annotated[TagsOrder | None, Query(alias="orderBy")] = None,
) -> TagsStats:
    infos = ordered(await tag_infos(links, key.owner_scope), search_term, order_by)
    paging = Page.of(page, items_per_page if items_per_page is not None else -1)
    chosen = infos[paging.offset : paging.offset + paging.size]
    return TagsStats(
        tags=TagsStatsPage(data=chosen, pagination=paging.pagination(len(infos), len(chosen)))
    )


@router.put(V + "/tags")
@router.delete(V + "/tags")
async def change_tags(version: Version, key: ShlinkKey) -> Response:
    """Not supported yet: answered as Shlink answers a key that may not change tags."""
    raise FORBIDDEN_TAG_OPERATION("Renaming and deleting tags is not supported by this server.")


@router.get(V + "/domains")
async def list_domains(version: Version, key: ShlinkKey, settings: SettingsDep) -> DomainsList:
    """Surge serves one domain, the short domain, with no "not found" redirects."""
    none = NotFoundRedirects()
    return DomainsList(
        domains=DomainsBody(
            data=[Domain(domain=settings.public_host, isDefault=True, redirects=none)],
            defaultRedirects=none,
        )
    )


@router.get(V + "/mercure-info")
async def mercure_info(version: Version, key: ShlinkKey) -> Response:
    raise MERCURE_NOT_CONFIGURED("This Shlink instance is not integrated with a mercure hub.")


@router.get("/rest/health")
async def health(request: Request, settings: SettingsDep) -> Response:
    """Shlink's health: pass while the database answers (no key needed)."""
    ok = await database_ok(request)
    body = Health(
        status="pass" if ok else "fail",
        version=SHLINK_VERSION,
        links=HealthLinks(about=f"{settings.public_url}/docs", project=f"surge {__version__}"),
    )
    return JSONResponse(body.model_dump(), 200 if ok else 503, media_type="application/health+json")


@router.options("/rest/{path:path}")
async def cors_preflight(request: Request, path: str) -> Response:
    return preflight(request)


@router.api_route("/rest/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(request: Request, path: str) -> Response:
    """Any other /rest/ path (Shlink's redirect-rule editing, domain redirects, visit
    deletion, ...): Shlink's 404."""
    raise NOT_FOUND_SHLINK(f"Requested route /rest/{path} does not exist.")
