"""The domains API (`/api/v1/domains`: every key lists them, admins change them) and the
redirect service's Host lookup (`/internal/domains/{host}`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from surge.accounts.deps import CurrentKey, require_admin_key
from surge.data.contracts import DomainEntry
from surge.domains.deps import DomainServiceDep
from surge.domains.hosts import HOST_JSON_MAX_LENGTH, HOST_JSON_PATTERN
from surge.domains.schemas import DomainCreate, DomainOut, DomainRedirectsIn
from surge.platform.deps import InternalOnly
from surge.platform.problems import (
    DEFAULT_DOMAIN,
    DOMAIN_IN_USE,
    DOMAIN_TAKEN,
    FORBIDDEN,
    NOT_FOUND,
    UNAUTHORIZED,
    problem_responses,
)

router = APIRouter(prefix="/api/v1/domains", tags=["domains"])
internal_router = APIRouter(
    prefix="/internal", dependencies=[InternalOnly], include_in_schema=False
)
ADMIN_ONLY = Depends(require_admin_key)
HostPath = Annotated[str, Path(max_length=HOST_JSON_MAX_LENGTH, pattern=HOST_JSON_PATTERN)]
# The redirect asks for whatever Host a request carried ("localhost", an IP): a name that can
# be no domain is a domain Surge does not serve (404), never a 422 the redirect takes for an
# outage (it answered 503 "links unavailable" to such a Host).
AnyHostPath = Annotated[str, Path(max_length=HOST_JSON_MAX_LENGTH)]


@router.get("", responses=problem_responses(UNAUTHORIZED))
async def list_domains(key: CurrentKey, domains: DomainServiceDep) -> list[DomainOut]:
    """The default domain first, then the others by name."""
    return [DomainOut.of(d) for d in await domains.all()]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ADMIN_ONLY],
    responses=problem_responses(UNAUTHORIZED, FORBIDDEN, DOMAIN_TAKEN),
)
async def add_domain(body: DomainCreate, domains: DomainServiceDep) -> DomainOut:
    return DomainOut.of(await domains.add(body.host, body.redirects()))


@router.patch(
    "/{host}",
    dependencies=[ADMIN_ONLY],
    responses=problem_responses(UNAUTHORIZED, FORBIDDEN, NOT_FOUND, DEFAULT_DOMAIN),
)
async def set_redirects(
    host: HostPath, body: DomainRedirectsIn, domains: DomainServiceDep
) -> DomainOut:
    """The domain's redirects, all three (an absent one is cleared)."""
    return DomainOut.of(await domains.set_redirects(host, body.redirects()))


@router.delete(
    "/{host}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ADMIN_ONLY],
    responses=problem_responses(UNAUTHORIZED, FORBIDDEN, NOT_FOUND, DOMAIN_IN_USE, DEFAULT_DOMAIN),
)
async def remove_domain(host: HostPath, domains: DomainServiceDep) -> Response:
    """Only a domain without links can be removed (409 otherwise)."""
    await domains.remove(host)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal_router.get("/domains/{host}")
async def domain_entry(host: AnyHostPath, domains: DomainServiceDep) -> DomainEntry:
    entry = await domains.entry(host)
    if entry is None:
        raise NOT_FOUND("Surge serves no domain by this name.")
    return entry
