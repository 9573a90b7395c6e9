"""The public `/api/v1` links API and the api's `/internal` endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from surge.data.contracts import LinkStats, ResolvedLink
from surge.links.deps import CurrentKey, InternalOnly, LinkServiceDep
from surge.links.schemas import LinkCreate, LinkOut, LinkPage, LinkUpdate
from surge.platform.problems import PROBLEM_CONTENT_TYPE

router = APIRouter(prefix="/api/v1", tags=["links"])
internal_router = APIRouter(
    prefix="/internal", dependencies=[InternalOnly], include_in_schema=False
)

SlugPath = Annotated[str, Path(max_length=64)]
PROBLEM: dict[str, Any] = {
    "content": {PROBLEM_CONTENT_TYPE: {}},
    "description": "Problem details (RFC 9457)",
}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 404: PROBLEM, 422: PROBLEM}


@router.post("/links", status_code=status.HTTP_201_CREATED, responses={**ERRORS, 409: PROBLEM})
async def create_link(body: LinkCreate, key: CurrentKey, links: LinkServiceDep) -> LinkOut:
    return await links.create(key.id, body)


@router.get("/links", responses=ERRORS)
async def list_links(
    key: CurrentKey,
    links: LinkServiceDep,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> LinkPage:
    return await links.page(key.id, cursor=cursor, limit=limit, tag=tag, q=q)


@router.get("/links/{slug}", responses=ERRORS)
async def get_link(slug: SlugPath, key: CurrentKey, links: LinkServiceDep) -> LinkOut:
    return await links.get(key.id, slug)


@router.patch("/links/{slug}", responses=ERRORS)
async def update_link(
    slug: SlugPath, body: LinkUpdate, key: CurrentKey, links: LinkServiceDep
) -> LinkOut:
    return await links.update(key.id, slug, body)


@router.delete("/links/{slug}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_link(slug: SlugPath, key: CurrentKey, links: LinkServiceDep) -> Response:
    await links.delete(key.id, slug)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/links/{slug}/stats",
    response_model=LinkStats,
    responses={**ERRORS, 503: PROBLEM},
)
async def link_stats(
    slug: SlugPath,
    key: CurrentKey,
    links: LinkServiceDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    interval: Literal["hour", "day"] = "day",
) -> Response:
    link_id = await links.owned_link_id(key.id, slug)
    answer = await links.analytics.stats(link_id, start=start, end=end, interval=interval)
    return Response(
        answer.content,
        answer.status_code,
        media_type=answer.headers.get("content-type", "application/json"),
    )


@internal_router.get("/links/{slug}")
async def resolve_link(slug: SlugPath, links: LinkServiceDep) -> ResolvedLink:
    return await links.resolve(slug)
