"""Analytics' answers about many links at once, for the overview and the links list (the
contracts of data/overview.py): a breaker, retries (reads), and its range refusals passed on."""

from __future__ import annotations

from datetime import date

import httpx

from surge.data.overview import (
    DailySeries,
    DailySeriesQuery,
    OverviewQuery,
    OverviewStats,
    Ranking,
    RankingQuery,
)
from surge.links.analytics_client import (
    STATS_PROBLEMS,
    AnalyticsDown,
    VisitsClient,
    _read,
    _stats_unavailable,
)
from surge.platform.breakers import BreakerOpen
from surge.platform.http import idempotent_retries
from surge.platform.problems import ProblemError


class OverviewClient(VisitsClient):
    async def overview(self, query: OverviewQuery) -> OverviewStats:
        """The links' clicks over the range; a range analytics refuses is refused as it said."""
        response = await self._send("/internal/analytics/overview", query.model_dump(mode="json"))
        relayed = ProblemError.relayed(response, STATS_PROBLEMS)
        if relayed is not None:
            raise relayed
        return _read(response, OverviewStats, "overview_unreadable")

    async def ranking(self, link_ids: list[int], offset: int, limit: int) -> Ranking:
        if not link_ids:
            return Ranking(items=[])
        query = RankingQuery(link_ids=link_ids, offset=offset, limit=limit)
        response = await self._send("/internal/analytics/ranking", query.model_dump(mode="json"))
        return _read(response, Ranking, "ranking_unreadable")

    async def daily_series(self, link_ids: list[int], first: date, days: int) -> DailySeries:
        if not link_ids:
            return DailySeries(first=first, items=[])
        query = DailySeriesQuery(link_ids=link_ids, first=first, days=days)
        body = query.model_dump(mode="json")
        response = await self._send("/internal/analytics/daily-series", body)
        return _read(response, DailySeries, "series_unreadable")

    async def _send(self, path: str, body: dict[str, object]) -> httpx.Response:
        """A read POSTed (safe to send again); no answer or a server error is a 503."""
        try:
            async for attempt in idempotent_retries():
                with attempt:
                    async with self._guard():
                        response = await self.client.post(path, json=body)
                        if response.status_code >= 500:
                            raise AnalyticsDown(response.status_code)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _stats_unavailable() from exc
        return response
