"""Analytics' answers about many links at once (data/overview.py): the overview of a range, the
links' order by clicks, their daily series. Rollups only (overview_repository.py)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from surge.analytics.clickhouse_overview import ClickHouseOverview
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.overview_repository import OverviewRepository
from surge.analytics.repository import VISITORS
from surge.analytics.service import _series, _step_s, stats_range
from surge.analytics.store import reads_from
from surge.data.contracts import DIMENSIONS, Breakdown, CountPoint
from surge.data.overview import (
    DailySeries,
    DailySeriesQuery,
    LinkClicks,
    LinkSeries,
    OverviewQuery,
    OverviewStats,
    Ranking,
    RankingQuery,
)
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker
from surge.platform.problems import INVALID_RANGE

# The overview's breakdowns: a link's, but the targets of its redirect rules (one link's URLs).
OVERVIEW_DIMENSIONS = {d: f for d, f in DIMENSIONS.items() if d != "target"}


class ClickOverview:
    def __init__(self, sessions: SessionMaker, clickhouse: ClickHouseClicks | None = None) -> None:
        self.sessions = sessions
        # Where clicks live when SURGE_CLICKHOUSE_URL is set: the same reads, from there.
        self.clickhouse = None if clickhouse is None else ClickHouseOverview(clickhouse)

    def _reads(self) -> AbstractAsyncContextManager[Any]:
        """OverviewRepository, or its ClickHouse twin (the same methods and answers)."""
        return reads_from(self.clickhouse, self.sessions, OverviewRepository)

    async def overview(self, query: OverviewQuery) -> OverviewStats:
        """The links' clicks in the range (the ranges and refusals of a link's stats), summed."""
        try:
            start, end = stats_range(query.start, query.end, query.interval, utc_now())
        except OverflowError:  # a week before 0001-01-01, a zone past 9999-12-31
            raise INVALID_RANGE("The range is out of the calendar's bounds.") from None
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        ids = query.link_ids
        async with self._reads() as repo:
            counts, totals = await repo.slots(ids, start, end, _step_s(query.interval))
            top = await repo.top_links(ids, start, end, query.top)
            tops = await repo.breakdowns(
                ids, [*OVERVIEW_DIMENSIONS, VISITORS], first, last, query.top
            )
        return OverviewStats(
            from_=start,
            to=end,
            interval=query.interval,
            total=totals[False],
            unique_visitors=sum(n for _, n in tops[VISITORS]),
            bot_clicks=totals[True],
            timeseries=[CountPoint(**p) for p in _series(counts, start, end, query.interval)],
            top_links=[LinkClicks(link_id=i, clicks=n) for i, n in top],
            **{
                field: [Breakdown(value=v, clicks=n) for v, n in tops[dimension]]
                for dimension, field in OVERVIEW_DIMENSIONS.items()
            },
        )

    async def ranking(self, query: RankingQuery) -> Ranking:
        async with self._reads() as repo:
            found = await repo.ranking(query.link_ids, query.offset, query.limit)
        return Ranking(items=[LinkClicks(link_id=i, clicks=n) for i, n in found])

    async def daily_series(self, query: DailySeriesQuery) -> DailySeries:
        async with self._reads() as repo:
            found = await repo.daily(query.link_ids, query.first, query.days)
        return DailySeries(
            first=query.first,
            items=[
                LinkSeries(
                    link_id=i, clicks=[found.get(i, {}).get(day, 0) for day in range(query.days)]
                )
                for i in query.link_ids
            ],
        )
