"""The api's REST clients: analytics (stats, click counts) and redirect replicas (invalidation)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from surge.data.contracts import ClickCount, Invalidation
from surge.platform.logging import get_logger
from surge.platform.problems import ProblemError

log = get_logger(__name__)


class LinkChangeNotifier:
    """Tells every redirect replica to drop its cached entry for a changed slug.

    Best effort with a timeout: a replica that misses it still drops the entry at its cache TTL.
    """

    def __init__(self, redirect_clients: list[httpx.AsyncClient]) -> None:
        self.redirect_clients = redirect_clients

    async def link_changed(self, slug: str) -> None:
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
            raise ProblemError(
                503,
                "analytics-unavailable",
                "Stats unavailable",
                "Try again shortly.",
                headers={"Retry-After": "5"},
            ) from exc
        if response.status_code >= 500:
            raise ProblemError(
                503,
                "analytics-unavailable",
                "Stats unavailable",
                "Try again shortly.",
                headers={"Retry-After": "5"},
            )
        return response
