"""The api's REST clients: analytics (stats, click counts) and redirect replicas (invalidation)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import TypeVar

import httpx
from pydantic import BaseModel

from surge.data.contracts import (
    EVERYTHING,
    ClickCount,
    DeletedVisits,
    Interval,
    Invalidation,
    LinkStats,
    ResolvedLink,
    VisitCounts,
    VisitCountsOut,
    VisitCountsQuery,
    VisitsPage,
    VisitsQuery,
)
from surge.data.link_tier import SharedLinkTier
from surge.platform.breakers import Breaker, BreakerOpen
from surge.platform.http import idempotent_retries
from surge.platform.logging import get_logger
from surge.platform.problems import (
    ANALYTICS_UNAVAILABLE,
    INVALID_RANGE,
    RANGE_TOO_LARGE,
    VALIDATION_ERROR,
    ProblemError,
)
from surge.platform.replicas import RecentWrites, changed_link_mark

log = get_logger(__name__)
# What analytics may answer about the request itself; the api passes those on to the client.
STATS_PROBLEMS = (INVALID_RANGE, RANGE_TOO_LARGE, VALIDATION_ERROR)


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
        shared: SharedLinkTier | None = None,
        recent: RecentWrites | None = None,
    ) -> None:
        """`recent`: where a change is marked first, so the redirect's next lookup of the link
        reads the primary, not a replica that may not have the change yet."""
        self.redirect_clients = redirect_clients
        self.shared = shared
        self.recent = recent

    async def link_changed(self, key: str, link: ResolvedLink | None) -> None:
        """`link` is the new state of the link cached under `key` (see link_key), None once
        it is gone."""
        await self.links_changed([(key, link)])

    async def links_changed(self, changes: Sequence[tuple[str, ResolvedLink | None]]) -> None:
        """Many links changed at once (a batch): as `link_changed` for each, in one Redis
        round trip and one call per replica."""
        if not changes:
            return
        if self.recent is not None:
            for key, _ in changes:
                self.recent.mark(changed_link_mark(key))
        if self.shared is not None:
            await self.shared.changed(changes)
        await self._tell_replicas([key for key, _ in changes])

    async def everything_changed(self) -> None:
        """A domain changed: every replica forgets what it cached of links and hosts."""
        if self.shared is not None:
            await self.shared.publish(EVERYTHING)
        await self._tell_replicas([EVERYTHING])

    async def _tell_replicas(self, keys: list[str]) -> None:
        if not self.redirect_clients:
            return
        body = Invalidation(slugs=keys).model_dump()
        results = await asyncio.gather(
            *(c.post("/internal/redirect/invalidate", json=body) for c in self.redirect_clients),
            return_exceptions=True,
        )
        for client, result in zip(self.redirect_clients, results, strict=True):
            if isinstance(result, BaseException) or result.status_code >= 300:
                log.warning(
                    "invalidation_failed", replica=str(client.base_url), slug=keys[0], n=len(keys)
                )


class AnalyticsDown(Exception):
    """Analytics answered with a server error."""


def analytics_unavailable(exc: BaseException) -> bool:
    """What trips the analytics breaker: no answer, or a server error."""
    return isinstance(exc, httpx.HTTPError | AnalyticsDown)


class AnalyticsClient:
    def __init__(self, client: httpx.AsyncClient, breaker: Breaker | None = None) -> None:
        self.client = client
        self.breaker = breaker

    def _guard(self) -> AbstractAsyncContextManager[None]:
        return nullcontext() if self.breaker is None else self.breaker.guard()

    async def click_count(self, link_id: int) -> int:
        """Clicks counted so far; 0 when analytics cannot say (the redirect also counts locally)."""
        try:
            async with self._guard():
                response = await self.client.get(f"/internal/analytics/links/{link_id}/count")
                if response.status_code >= 500:
                    raise AnalyticsDown(response.status_code)
            response.raise_for_status()
            return ClickCount.model_validate_json(response.content).clicks
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen, ValueError) as exc:
            # ValueError: a body that is not a count
            log.warning("click_count_unavailable", link_id=link_id, error=str(exc))
            return 0

    async def stats(
        self,
        link_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        top: int | None = None,
    ) -> LinkStats:
        """The link's stats, `top` values per breakdown (None: analytics' default, 10).
        Analytics' answers to a bad range are raised again as they came; anything else from
        it (an error, no answer, a body we cannot read) is a 503."""
        params: dict[str, str] = {"interval": interval}
        if top is not None:
            params["top"] = str(top)
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        try:
            async for attempt in idempotent_retries():
                with attempt:
                    async with self._guard():
                        response = await self.client.get(
                            f"/internal/analytics/links/{link_id}/stats", params=params
                        )
                        if response.status_code >= 500:
                            raise AnalyticsDown(response.status_code)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _stats_unavailable() from exc
        relayed = ProblemError.relayed(response, STATS_PROBLEMS)
        if relayed is not None:
            raise relayed
        return _read(response, LinkStats, "stats_unreadable", link_id=link_id)

    async def delete_visits(self, link_id: int) -> int:
        """Delete every click of the link so far; how many its stats had counted. Sent once:
        sent again after a lost answer, it would delete clicks made since."""
        try:
            async with self._guard():
                response = await self.client.delete(f"/internal/analytics/links/{link_id}/clicks")
                if response.status_code >= 500:
                    raise AnalyticsDown(response.status_code)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _stats_unavailable() from exc
        return _read(response, DeletedVisits, "deletion_unreadable", link_id=link_id).deleted


def _stats_unavailable() -> ProblemError:
    return ANALYTICS_UNAVAILABLE(
        "Analytics did not answer; try again shortly.", headers={"Retry-After": "5"}
    )


class VisitsClient(AnalyticsClient):
    """Analytics' answers about many links at once (the Shlink REST API's visits). Anything but
    a readable 200 is a 503, as for stats."""

    async def visit_counts(self, link_ids: list[int]) -> dict[int, VisitCounts]:
        """All-time clicks per link id; a link without clicks is absent."""
        if not link_ids:
            return {}
        body = VisitCountsQuery(link_ids=link_ids).model_dump(mode="json")
        found = await self._post("/internal/analytics/visit-counts", body, VisitCountsOut)
        return {counts.link_id: counts for counts in found.items}

    async def visits(self, query: VisitsQuery) -> VisitsPage:
        return await self._post(
            "/internal/analytics/visits", query.model_dump(mode="json"), VisitsPage
        )

    async def _post(self, path: str, body: dict[str, object], model: type[_Answer]) -> _Answer:
        try:
            async for attempt in idempotent_retries():  # a read: safe to send again
                with attempt:
                    async with self._guard():
                        response = await self.client.post(path, json=body)
                        if response.status_code >= 500:
                            raise AnalyticsDown(response.status_code)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _stats_unavailable() from exc
        return _read(response, model, "visits_unreadable", path=path)


_Answer = TypeVar("_Answer", bound=BaseModel)


def _read(response: httpx.Response, model: type[_Answer], event: str, **context: object) -> _Answer:
    """Analytics' 200 as `model`; anything else (another status, a body it cannot be) is a 503."""
    if response.status_code == 200:
        try:
            return model.model_validate_json(response.content)
        except ValueError:
            log.warning(event, **context)
    raise _stats_unavailable()
