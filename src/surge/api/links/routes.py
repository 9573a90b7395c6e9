"""The links API (`/api/v1/links`) and the redirect service's lookup (`/internal/links`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from surge.accounts.deps import ApiLimitsDep, CurrentKey
from surge.data.contracts import (
    CrawlableSlugs,
    Interval,
    LinkStats,
    ResolvedLink,
    Unlock,
    stats_response,
)
from surge.data.visit_export import ExportFormat
from surge.links.deps import LinkExportsDep, LinkServiceDep
from surge.links.export_docs import STATS_CSV_RESPONSE, VISITS_RESPONSE
from surge.links.fields import SLUG_JSON_PATTERN, TAG_PATTERN
from surge.links.schemas import (
    DeletedLinkVisits,
    LinkCreate,
    LinkOut,
    LinkPage,
    LinkUpdate,
    Timestamp,
)
from surge.platform.deps import InternalOnly, SettingsDep
from surge.platform.problems import (
    ANALYTICS_UNAVAILABLE,
    FORBIDDEN,
    INVALID_RANGE,
    NOT_FOUND,
    RANGE_TOO_LARGE,
    SLUG_SPACE_BUSY,
    SLUG_TAKEN,
    UNAUTHORIZED,
    problem_responses,
)

router = APIRouter(prefix="/api/v1", tags=["links"])
internal_router = APIRouter(
    prefix="/internal", dependencies=[InternalOnly], include_in_schema=False
)

SlugPath = Annotated[str, Path(pattern=SLUG_JSON_PATTERN)]
DomainQuery = Annotated[
    str | None,
    Query(
        max_length=260,
        pattern=r"^[^\x00-\x20/?#@]+$",
        description="The link's domain (default: the default domain); on a domain Surge "
        "does not serve there is no link (404).",
    ),
]
CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # PostgreSQL refuses NUL in text


@router.post(
    "/links",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(UNAUTHORIZED, SLUG_TAKEN, SLUG_SPACE_BUSY),
)
async def create_link(
    request: Request,
    body: LinkCreate,
    key: CurrentKey,
    links: LinkServiceDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
) -> LinkOut:
    await limits.link_created(request, key.id)
    return LinkOut.of(await links.create(key.user_id, body), settings.public_url)


@router.get("/links", responses=problem_responses(UNAUTHORIZED))
async def list_links(
    key: CurrentKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=PRINTABLE, description="Part of the slug or the URL."),
    ] = None,
    domain: Annotated[
        str | None,
        Query(
            max_length=260,
            pattern=r"^[^\x00-\x20/?#@]+$",
            description="Only links on this domain (default: every domain; none on a domain "
            "Surge does not serve).",
        ),
    ] = None,
) -> LinkPage:
    page = await links.page(
        key.owner_scope, cursor=cursor, limit=limit, tag=tag, q=q, domain=domain
    )
    return LinkPage(
        items=[LinkOut.of(link, settings.public_url) for link in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/links/{slug}", responses=problem_responses(UNAUTHORIZED, NOT_FOUND))
async def get_link(
    slug: SlugPath,
    key: CurrentKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: DomainQuery = None,
) -> LinkOut:
    return LinkOut.of(await links.get(key.owner_scope, slug, domain), settings.public_url)


@router.patch("/links/{slug}", responses=problem_responses(UNAUTHORIZED, NOT_FOUND, SLUG_TAKEN))
async def update_link(
    slug: SlugPath,
    body: LinkUpdate,
    key: CurrentKey,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: DomainQuery = None,
) -> LinkOut:
    """`domain` in the body moves the link to that domain (409 if its slug is taken there)."""
    changed = await links.update(key.owner_scope, slug, body, domain)
    return LinkOut.of(changed, settings.public_url)


@router.delete(
    "/links/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND),
)
async def delete_link(
    slug: SlugPath, key: CurrentKey, links: LinkServiceDep, domain: DomainQuery = None
) -> Response:
    await links.delete(key.owner_scope, slug, domain)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/links/{slug}/visits",
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND, ANALYTICS_UNAVAILABLE),
)
async def delete_link_visits(
    slug: SlugPath, key: CurrentKey, links: LinkServiceDep, domain: DomainQuery = None
) -> DeletedLinkVisits:
    """Delete every visit of the link so far (raw clicks, rollups, unique visitors, clicks it
    brought from another shortener): its stats start again from zero, and a click limit counts
    anew. Clicks of before this moment that were still on their way are dropped too."""
    return DeletedLinkVisits(
        deleted_visits=await links.delete_visits(key.owner_scope, slug, domain)
    )


@router.get(
    "/links/{slug}/stats",
    response_model=LinkStats,
    responses={
        **problem_responses(
            UNAUTHORIZED, NOT_FOUND, INVALID_RANGE, RANGE_TOO_LARGE, ANALYTICS_UNAVAILABLE
        ),
        **STATS_CSV_RESPONSE,
    },
)
async def link_stats(
    slug: SlugPath,
    key: CurrentKey,
    links: LinkServiceDep,
    exports: LinkExportsDep,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    interval: Interval = "day",
    domain: DomainQuery = None,
    fmt: Annotated[
        ExportFormat,
        Query(
            alias="format",
            description="`csv`: a download (`kind,value,clicks`: the totals, the series, then "
            "every value of each breakdown, not only the top 10).",
        ),
    ] = "json",
) -> Response:
    """Clicks of the link in `[from, to)` (default: the last 7 days). A range reaching before
    the link was made or past now is clamped to that (nothing was clicked outside it), and
    the answer's `from` and `to` say the range counted; 400 `range-too-large` only when the
    clamped range still has more points than a query reads (a quarter by the hour)."""
    if fmt == "csv":
        download = await exports.stats_csv(
            key.owner_scope, slug, start=start, end=end, interval=interval, domain=domain
        )
        return download.response()
    stats = await links.stats(
        key.owner_scope, slug, start=start, end=end, interval=interval, domain=domain
    )
    return stats_response(stats)


@router.get(
    "/links/{slug}/visits",
    response_class=StreamingResponse,
    responses={
        **problem_responses(UNAUTHORIZED, NOT_FOUND, ANALYTICS_UNAVAILABLE),
        **VISITS_RESPONSE,
    },
)
async def link_visits(
    slug: SlugPath,
    key: CurrentKey,
    exports: LinkExportsDep,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    domain: DomainQuery = None,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> StreamingResponse:
    """Every raw visit of the link in `[from, to)` (default: all of them), oldest first, bots
    included (`bot`), as a download: a JSON array or CSV with a header row, streamed as it is
    read (any size). A range with nothing in it (`from` after `to`) is a download with no
    visits. Visits the link brought from another shortener (`surge import`) have no dates and
    are not listed."""
    download = await exports.visits(key.owner_scope, slug, fmt, start=start, end=end, domain=domain)
    return download.response()


@internal_router.get("/crawlable")
async def crawlable_links(
    links: LinkServiceDep, domain: Annotated[str, Query(max_length=253)] = ""
) -> CrawlableSlugs:
    """The slugs of the domain's crawlable links, for its robots.txt."""
    return CrawlableSlugs(slugs=await links.crawlable_slugs(domain))


@internal_router.get("/links/{slug}")
async def resolve_link(
    slug: SlugPath, links: LinkServiceDep, domain: Annotated[str, Query(max_length=253)] = ""
) -> ResolvedLink:
    """`domain`: the domain's key ('' the default domain), as /internal/domains gave it."""
    return await links.resolve(slug, domain)


@internal_router.post("/links/{slug}/unlock", status_code=204)
async def unlock_link(
    slug: SlugPath,
    body: Unlock,
    links: LinkServiceDep,
    domain: Annotated[str, Query(max_length=253)] = "",
) -> None:
    """204 when the password opens the link, 403 when it does not (404: no such link)."""
    if not await links.unlock(slug, domain, body.password):
        raise FORBIDDEN("Wrong password.")
