"""The api's REST clients: analytics (stats, click counts) and redirect replicas (invalidation)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from surge.data.contracts import ClickCount, Invalidation, ResolvedLink
from surge.platform.logging import get_logger
from surge.platform.problems import ProblemError
from surge.platform.redis import NEGATIVE, RedisNames

log = get_logger(__name__)


class LinkChangeNotifier:
    """Tells every redirect replica to drop its cached entry for a changed slug.

    With Redis: the shared cache entry is overwritten with the link's new state (so a slower
    replica's older read, written with NX, cannot win) and the slug is published to every
    replica. Without: each configured replica gets an internal REST call. Best effort with
    timeouts: a replica that misses it still drops the entry at its cache TTL.
    """

    def __init__(
        self,
        redirect_clients: list[httpx.AsyncClient],
        redis: Redis | None = None,
        names: RedisNames | None = None,
        *,
        cache_ttl_s: float = 60.0,
        negative_ttl_s: float = 5.0,
    ) -> None:
        self.redirect_clients = redirect_clients
        self.redis = redis
        self.names = names
        self.cache_ttl_s = cache_ttl_s
        self.negative_ttl_s = negative_ttl_s

    async def link_changed(self, slug: str, link: ResolvedLink | None) -> None:
        """`link` is the slug's new state, None once it is gone."""
        await self._publish(slug, link)
        if not self.redirect_clients:
            return
        body = Invalidation(slugs=[slug]).model_dump()
        results = await asyncio.gather(
            *(c.post("/internal/redirect/invalidate", json=body) for c in self.redirect_clients),
            return_exceptions=True,
        )
        for client, result in zip(self.redirect_clients, results, strict=True):
            if isinstance(result, BaseException) or result.status_code >= 300:
                log.warning("invalidation_failed", replica=str(client.base_url), slug=slug)

    async def _publish(self, slug: str, link: ResolvedLink | None) -> None:
        if self.redis is None or self.names is None:
            return
        key = self.names.link(slug)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                if link is not None and link.max_clicks is None:
                    pipe.set(key, link.model_dump_json(), px=int(self.cache_ttl_s * 1000))
                elif link is None and self.negative_ttl_s > 0:
                    pipe.set(key, NEGATIVE, px=int(self.negative_ttl_s * 1000))
                else:  # click-limited links are never shared in Redis
                    pipe.delete(key)
                pipe.publish(self.names.invalidations, slug)
                await pipe.execute()
        except RedisError as exc:
            log.warning("invalidation_publish_failed", slug=slug, error=repr(exc))


class AnalyticsClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def click_count(self, link_id: int) -> int:
        """Clicks counted so far; 0 when analytics cannot say (the redirect also counts locally)."""
        try:
            response = await self.client.get(f"/internal/analytics/links/{link_id}/count")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("click_count_unavailable", link_id=link_id, error=str(exc))
            return 0
        return ClickCount.model_validate_json(response.content).clicks

    async def stats(
        self, link_id: int, *, start: datetime | None, end: datetime | None, interval: str
    ) -> httpx.Response:
        """Analytics' answer (stats JSON or its problem+json 4xx), or 503 when it is away."""
        params: dict[str, str] = {"interval": interval}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        try:
            response = await self.client.get(
                f"/internal/analytics/links/{link_id}/stats", params=params
            )
        except httpx.HTTPError as exc:
            raise _stats_unavailable() from exc
        if response.status_code >= 500:
            raise _stats_unavailable()
        return response


def _stats_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "analytics-unavailable",
        "Stats unavailable",
        "Analytics did not answer; try again shortly.",
        headers={"Retry-After": "5"},
    )
