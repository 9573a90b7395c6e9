"""The api's REST clients: analytics (stats, click counts) and redirect replicas (invalidation)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from surge.data.contracts import ClickCount, Invalidation, ResolvedLink
from surge.platform.link_tier import SharedLinkTier
from surge.platform.logging import get_logger
from surge.platform.problems import ProblemError

log = get_logger(__name__)


class LinkChangeNotifier:
    """Tells every redirect replica to drop its cached entry for a changed slug.

    With Redis: the shared cache entry is overwritten with the link's new state (so a slower
    replica's older read, written with NX, cannot win) and the slug is published to every
    replica. Without: each configured replica gets an internal REST call. Best effort with
    timeouts: a replica that misses it still drops the entry at its cache TTL.
    """

    def __init__(
        self, redirect_clients: list[httpx.AsyncClient], shared: SharedLinkTier | None = None
    ) -> None:
        self.redirect_clients = redirect_clients
        self.shared = shared

    async def link_changed(self, slug: str, link: ResolvedLink | None) -> None:
        """`link` is the slug's new state, None once it is gone."""
        if self.shared is not None:
            raw = None if link is None else link.model_dump_json().encode()
            await self.shared.changed(slug, raw, shareable=link is None or link.shareable)
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
