"""Shlink's tags, domains, health and Mercure endpoints, CORS preflight and unknown paths."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from surge import __version__
from surge.domains.deps import DomainServiceDep
from surge.domains.repository import Domain, DomainRedirects
from surge.platform.deps import SettingsDep
from surge.platform.health import database_ok
from surge.platform.problems import FORBIDDEN
from surge.shlink.cors import preflight
from surge.shlink.deps import ShlinkKey
from surge.shlink.errors import (
    MERCURE_NOT_CONFIGURED,
    NOT_FOUND_SHLINK,
    ShlinkRoute,
    invalid_data,
)
from surge.shlink.schemas import (
    DomainRedirectsEdition,
    DomainsBody,
    DomainsList,
    Health,
    HealthLinks,
    NotFoundRedirects,
    ShlinkDomain,
    TagRenaming,
    TagsList,
    TagsPage,
    TagsStats,
    TagsStatsPage,
)
from surge.shlink.service import ShlinkServiceDep, TagsOrder
from surge.shlink.short_urls import Version

router = APIRouter(route_class=ShlinkRoute, include_in_schema=False)
V = "/rest/v{version}"
# The Shlink API version Surge answers as (`/rest/health`): clients choose features by it.
SHLINK_VERSION = "3.7.0"


@router.get(V + "/tags")
async def list_tags(
    version: Version,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    page: int | None = None,
    items_per_page: Annotated[int | None, Query(alias="itemsPerPage")] = None,
    search_term: Annotated[str | None, Query(alias="searchTerm")] = None,
    order_by: Annotated[TagsOrder | None, Query(alias="orderBy")] = None,
    with_stats: Annotated[bool, Query(alias="withStats")] = False,
) -> TagsList:
    chosen, pagination = await shlink.tags(key, search_term, order_by, page, items_per_page)
    return TagsList(
        tags=TagsPage(
            data=[i.tag for i in chosen],
            pagination=pagination,
            stats=chosen if with_stats else None,
        )
    )


@router.get(V + "/tags/stats")
async def tags_stats(
    version: Version,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    page: int | None = None,
    items_per_page: Annotated[int | None, Query(alias="itemsPerPage")] = None,
    search_term: Annotated[str | None, Query(alias="searchTerm")] = None,
    order_by: Annotated[TagsOrder | None, Query(alias="orderBy")] = None,
) -> TagsStats:
    chosen, pagination = await shlink.tags(key, search_term, order_by, page, items_per_page)
    return TagsStats(tags=TagsStatsPage(data=chosen, pagination=pagination))


@router.put(V + "/tags", status_code=204)
async def rename_tag(
    version: Version, body: TagRenaming, key: ShlinkKey, shlink: ShlinkServiceDep
) -> Response:
    """On the key's user's links (an admin key: everyone's)."""
    await shlink.rename_tag(key, body)
    return Response(status_code=204)


@router.delete(V + "/tags", status_code=204)
async def delete_tags(
    version: Version,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    tags: Annotated[list[str] | None, Query(alias="tags[]")] = None,
) -> Response:
    """Off the key's user's links (an admin key: everyone's); the links stay."""
    await shlink.delete_tags(key, tags or [])
    return Response(status_code=204)


def not_found_redirects(domain: Domain) -> NotFoundRedirects:
    """Surge's redirects of a domain as Shlink's: one not-found redirect serves both unknown
    short codes and other paths (Shlink has no expired one; Surge keeps it apart)."""
    r = domain.redirects
    return NotFoundRedirects(
        baseUrlRedirect=r.root_url,
        regular404Redirect=r.not_found_url,
        invalidShortUrlRedirect=r.not_found_url,
    )


@router.get(V + "/domains")
async def list_domains(
    version: Version, key: ShlinkKey, domains: DomainServiceDep, settings: SettingsDep
) -> DomainsList:
    """Every domain; the default one by its authority (with SURGE_PUBLIC_URL's port, which
    clients call it by)."""
    found = await domains.all()
    authority = urlsplit(settings.public_url).netloc
    return DomainsList(
        domains=DomainsBody(
            data=[
                ShlinkDomain(
                    domain=authority if d.created_at is None else d.host,
                    isDefault=d.created_at is None,
                    redirects=not_found_redirects(d),
                )
                for d in found
            ],
            defaultRedirects=not_found_redirects(found[0]),
        )
    )


@router.patch(V + "/domains/redirects")
async def set_domain_redirects(
    version: Version, body: DomainRedirectsEdition, key: ShlinkKey, domains: DomainServiceDep
) -> NotFoundRedirects:
    """A domain's redirects (an admin key's only); the default domain's are settings."""
    if not key.is_admin:
        raise FORBIDDEN("Only an admin key changes a domain's redirects.")
    if domains.is_default(body.domain):  # as Shlink answers it
        raise invalid_data(
            ["domain"],
            "The default domain's redirects are settings: SURGE_ROOT_REDIRECT, "
            "SURGE_NOT_FOUND_REDIRECT, SURGE_EXPIRED_REDIRECT.",
        )
    current = await domains.get(body.domain)
    sent = body.model_fields_set
    not_found = current.redirects.not_found_url
    if "invalidShortUrlRedirect" in sent:
        not_found = body.invalidShortUrlRedirect
    elif "regular404Redirect" in sent:
        not_found = body.regular404Redirect
    root = body.baseUrlRedirect if "baseUrlRedirect" in sent else current.redirects.root_url
    changed = await domains.set_redirects(
        body.domain, DomainRedirects(root, not_found, current.redirects.expired_url)
    )
    return not_found_redirects(changed)


@router.get(V + "/mercure-info")
async def mercure_info(version: Version, key: ShlinkKey) -> Response:
    raise MERCURE_NOT_CONFIGURED("This Shlink instance is not integrated with a mercure hub.")


@router.get("/rest/health")
@router.get(V + "/health")
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
