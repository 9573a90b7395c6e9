"""The Shlink API's dependencies: `X-Api-Key` authentication (Surge's keys, limits and rules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.accounts.deps import ApiLimitsDep, KeyServiceDep
from surge.accounts.key_repository import ApiKey
from surge.accounts.keys import KeyService
from surge.accounts.limits import ApiLimits
from surge.data.contracts import VisitCounts
from surge.links.analytics_client import VisitsClient
from surge.links.deps import LinkServiceDep
from surge.links.repository import LinkRepository
from surge.links.service import LinkService
from surge.platform.metrics import KEY_PREFIX_SCOPE
from surge.shlink.errors import INVALID_API_KEY, MISSING_AUTHENTICATION


async def authenticate(
    request: Request, keys: KeyService, limits: ApiLimits, secret: str, missing: str
) -> ApiKey:
    """The live key of `secret`, through the same limits as /api/v1 (`missing`: what to say
    when there is none)."""
    ip = await limits.before_auth(request)
    if not secret.strip():
        await limits.failed_auth(ip)
        raise MISSING_AUTHENTICATION(missing)
    key = await keys.authenticate(secret.strip())
    if key is None:
        await limits.failed_auth(ip)
        raise INVALID_API_KEY("Provided API key does not exist or is invalid.")
    request.scope[KEY_PREFIX_SCOPE] = key.prefix
    await limits.after_auth(request, key.id)
    return key


async def require_shlink_key(request: Request, keys: KeyServiceDep, limits: ApiLimitsDep) -> ApiKey:
    """The request's key, from `X-Api-Key`."""
    return await authenticate(
        request,
        keys,
        limits,
        request.headers.get("x-api-key", ""),
        'Expected one of the following authentication headers, ["X-Api-Key"], '
        "but none were provided",
    )


class VisitsWithImported(VisitsClient):
    """Analytics' counts plus the clicks links brought from another shortener (`surge import`),
    as Surge's own stats count them."""

    def __init__(self, links: LinkService) -> None:
        # The links service's analytics client and breaker: one connection pool, one breaker.
        super().__init__(links.analytics.client, links.analytics.breaker)
        self.sessions = links.sessions

    async def visit_counts(self, link_ids: list[int]) -> dict[int, VisitCounts]:
        counts = await super().visit_counts(link_ids)
        if not link_ids:
            return counts
        async with self.sessions() as session:
            imported = await LinkRepository(session).imported_counts(link_ids)
        for link_id, (humans, bots) in imported.items():
            counted = counts.get(link_id) or VisitCounts(link_id=link_id, humans=0, bots=0)
            counts[link_id] = VisitCounts(
                link_id=link_id, humans=counted.humans + humans, bots=counted.bots + bots
            )
        return counts


def get_visits_client(links: LinkServiceDep) -> VisitsClient:
    return VisitsWithImported(links)


ShlinkKey = Annotated[ApiKey, Depends(require_shlink_key)]
VisitsDep = Annotated[VisitsClient, Depends(get_visits_client)]
