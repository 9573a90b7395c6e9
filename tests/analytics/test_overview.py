"""Analytics' answers about many links at once: the overview is the sum of the links' own stats,
the ranking orders every link asked about by clicks, and daily series are zero-filled days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from surge.analytics.overview import ClickOverview
from surge.analytics.service import ClickService
from surge.data.overview import DailySeriesQuery, OverviewQuery, RankingQuery
from surge.platform.clock import utc_now
from surge.platform.problems import ProblemError
from tests.helpers import GOOGLEBOT, IPHONE, event

DAY = timedelta(days=1)


async def seed(clicks: ClickService, now: datetime) -> None:
    """Links 1-3 clicked over several days, from several places; link 4 never; bots too."""
    events = []
    for day in range(6):
        at = now - day * DAY
        events += [
            event(1, visitor=f"a{i}", at=at, country="DE", referrer="https://news.ycombinator.com/")
            for i in range(day + 1)
        ]
        events += [event(2, visitor="b", ua=IPHONE, at=at - timedelta(hours=2), country="JP")]
    events += [event(3, visitor="c", at=now - 20 * DAY, referrer="https://t.co/x")]
    events += [event(1, ua=GOOGLEBOT, at=now), event(3, ua=GOOGLEBOT, at=now - DAY)]
    await clicks.ingest(events)


@pytest.mark.parametrize("interval", ["day", "hour"])
async def test_the_overview_is_the_sum_of_the_links_stats(
    clicks: ClickService, interval: str
) -> None:
    now = utc_now()
    await seed(clicks, now)
    overview = ClickOverview(clicks.sessions)
    start, end = now - 7 * DAY, now + timedelta(minutes=1)
    ids = [1, 2, 3, 4]
    found = await overview.overview(
        OverviewQuery(link_ids=ids, start=start, end=end, interval=interval)  # type: ignore[arg-type]
    )
    each = [await clicks.link_stats(i, start, end, interval) for i in ids]  # type: ignore[arg-type]
    assert found.total == sum(s.total for s in each) == 21 + 6
    assert found.bot_clicks == sum(s.bot_clicks for s in each) == 2
    assert found.unique_visitors == sum(s.unique_visitors for s in each)
    assert [p.clicks for p in found.timeseries] == [
        sum(points)
        for points in zip(*([p.clicks for p in s.timeseries] for s in each), strict=True)
    ]
    assert [(b.value, b.clicks) for b in found.countries] == [("DE", 21), ("JP", 6)]
    assert [(b.value, b.clicks) for b in found.referrers] == [
        ("news.ycombinator.com", 21),
        ("(direct)", 6),
    ]
    assert [(t.link_id, t.clicks) for t in found.top_links] == [(1, 21), (2, 6)]

    # Every link (an admin's everyone), and only some of them.
    everyone = await overview.overview(OverviewQuery(start=start, end=end))
    assert everyone.total == found.total
    only_two = await overview.overview(OverviewQuery(link_ids=[2], start=start, end=end))
    assert (only_two.total, only_two.countries[0].value) == (6, "JP")
    none = await overview.overview(OverviewQuery(link_ids=[], start=start, end=end))
    assert (none.total, none.top_links, none.countries) == (0, [], [])


async def test_the_overview_refuses_a_range_as_a_links_stats_do(clicks: ClickService) -> None:
    overview = ClickOverview(clicks.sessions)
    now = utc_now()
    with pytest.raises(ProblemError) as refused:
        await overview.overview(OverviewQuery(link_ids=[1], start=now, end=now - DAY))
    assert refused.value.status == 400
    with pytest.raises(ProblemError) as too_long:
        await overview.overview(OverviewQuery(start=now - 400 * DAY, end=now, interval="hour"))
    assert too_long.value.problem.name == "range-too-large"


async def test_links_rank_by_clicks_those_without_last(clicks: ClickService) -> None:
    now = utc_now()
    await seed(clicks, now)
    overview = ClickOverview(clicks.sessions)
    ranked = await overview.ranking(RankingQuery(link_ids=[4, 3, 2, 1, 5], limit=10))
    assert [(r.link_id, r.clicks) for r in ranked.items] == [
        (1, 21),
        (2, 6),
        (3, 1),
        (5, 0),
        (4, 0),  # bots do not count; ties: newest first
    ]
    page = await overview.ranking(RankingQuery(link_ids=[4, 3, 2, 1, 5], offset=1, limit=2))
    assert [r.link_id for r in page.items] == [2, 3]
    many = list(range(1, 40_001))  # more than a statement's parameters: still one
    top = await overview.ranking(RankingQuery(link_ids=many, limit=3))
    assert [r.link_id for r in top.items] == [1, 2, 3]


async def test_daily_series_are_zero_filled_utc_days(clicks: ClickService) -> None:
    now = utc_now()
    await seed(clicks, now)
    overview = ClickOverview(clicks.sessions)
    first = (now - 13 * DAY).date()
    series = await overview.daily_series(DailySeriesQuery(link_ids=[1, 4], first=first, days=14))
    assert [s.link_id for s in series.items] == [1, 4]
    one, four = series.items
    assert four.clicks == [0] * 14
    assert sum(one.clicks) == 21
    assert one.clicks[-1] == 1  # today's: one visitor (and a bot, not counted)
    assert one.clicks[-6] == 6
    today = datetime.combine(now.date(), datetime.min.time(), UTC)
    stats = await clicks.link_stats(1, today - 13 * DAY, today + DAY, "day")
    assert one.clicks == [p.clicks for p in stats.timeseries]


async def test_a_range_past_the_calendars_bounds_is_refused(clicks: ClickService) -> None:
    overview = ClickOverview(clicks.sessions)
    for start, end in (
        (None, datetime(1, 1, 2, tzinfo=UTC)),  # the default week before it: year 0
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), None),
    ):
        with pytest.raises(ProblemError) as refused:
            await overview.overview(OverviewQuery(link_ids=[1], start=start, end=end))
        assert refused.value.problem.name == "invalid-range"
