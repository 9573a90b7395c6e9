"""Ingest: idempotent by event id, rollups equal raw counts, bots and unique visitors."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from surge.analytics.enrich import NOT_RECORDED, Click, Recording, enrich
from surge.analytics.geoip import GeoIP
from surge.analytics.repository import hour_of
from surge.analytics.service import ClickService
from surge.data.contracts import DIMENSIONS
from surge.data.tables import clicks as click_rows
from surge.data.tables import daily_breakdowns, hourly_clicks
from surge.data.visitors import VisitorHasher
from surge.platform.db import SessionMaker
from tests.geoip_files import WORLD, write_mmdb
from tests.helpers import BROWSER_UA, GOOGLEBOT, IPHONE, event


async def test_the_same_event_twice_counts_once(clicks: ClickService) -> None:
    first = [event(), event()]
    assert (await clicks.ingest(first)).ingested == 2
    again = await clicks.ingest([first[0], event()])
    assert (again.received, again.ingested) == (2, 1)
    # A batch carrying the same event twice is one click too.
    duplicate = event()
    assert (await clicks.ingest([duplicate, duplicate])).ingested == 1
    stats = await clicks.link_stats(1, None, None, "day")
    assert stats.total == 4
    assert await clicks.click_count(1) == 4


def dimension_values(click: Click) -> dict[str, str]:
    """What a click counts as in each breakdown, written out independently of the ingest SQL."""
    values = {
        "referrer": click.referrer_host or "(direct)",
        "country": click.country or "(unknown)",
        "device": click.device,
        "browser": click.browser,
        "os": click.os,
    }
    if click.target is not None:
        values["target"] = click.target
    if click.region is not None:  # located by GeoIP, with its country
        values["region"] = ", ".join(filter(None, [click.region, click.country]))
    if click.city is not None:
        values["city"] = ", ".join(filter(None, [click.city, click.region, click.country]))
    return values


async def brute_force_and_rollups(
    clicks: ClickService,
) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """Every rollup row, and the same counts computed from scratch over the raw clicks."""
    async with clicks.sessions() as session:
        raw = (await session.execute(select(click_rows))).all()
        hourly = (await session.execute(select(hourly_clicks))).all()
        daily = (await session.execute(select(daily_breakdowns))).all()
    expected: Counter[tuple[Any, ...]] = Counter()
    visitors: dict[tuple[int, Any], set[str]] = {}
    for row in raw:
        click = Click(*row)
        expected[("hour", click.link_id, hour_of(click.occurred_at), click.is_bot)] += 1
        day = click.occurred_at.date()
        for dimension, value in dimension_values(click).items():
            expected[(dimension, click.link_id, day, value, click.is_bot)] += 1
        if not click.is_bot:
            visitors.setdefault((click.link_id, day), set()).add(click.visitor_id)
    for (link_id, day), ids in visitors.items():
        expected[("visitors", link_id, day, "", False)] = len(ids)
    rolled: Counter[tuple[Any, ...]] = Counter()
    for row in hourly:
        rolled[("hour", row.link_id, row.bucket, row.is_bot)] = row.clicks
    for row in daily:
        rolled[(row.dimension, row.link_id, row.day, row.value, row.is_bot)] = row.clicks
    return expected, rolled


@pytest.mark.calendar
async def test_rollups_equal_a_brute_force_count_over_raw_clicks(
    sessions: SessionMaker, tmp_path: Path, now: datetime
) -> None:
    clicks = ClickService(sessions, GeoIP(write_mmdb(tmp_path / "world.mmdb", WORLD)))
    rng = random.Random(7)
    agents = [BROWSER_UA, IPHONE, GOOGLEBOT, None, "curl/8.5.0"]
    addresses = [None, "192.0.2.1", "198.51.100.2", "2001:db8:1::3", "2001:db8:2::4", "203.0.113.5"]
    batch = [
        event(
            rng.randint(1, 3),
            ua=rng.choice(agents),
            visitor=f"v{rng.randint(1, 20)}",
            # Across a UTC midnight and several days, out of order.
            at=now - timedelta(hours=rng.randint(0, 72), minutes=rng.randint(0, 59)),
            referrer=rng.choice([None, "https://t.co/x", "https://news.ycombinator.com/item?id=1"]),
            country=rng.choice([None, None, "DE", "us", "BR"]),
            ip=rng.choice(addresses),
        )
        for _ in range(600)
    ]
    for start in range(0, 600, 150):  # several batches, with overlap: at-least-once delivery
        await clicks.ingest(batch[max(0, start - 20) : start + 150])
    # The same events delivered again, shuffled into other batches: nothing changes.
    again = batch[:]
    rng.shuffle(again)
    for start in range(0, 600, 200):
        assert (await clicks.ingest(again[start : start + 200])).ingested == 0

    expected, rolled = await brute_force_and_rollups(clicks)
    assert rolled == expected
    assert sum(n for key, n in expected.items() if key[0] == "hour") == 600
    assert {key[0] for key in expected} >= {"region", "city"}  # GeoIP located some
    # And the stats API agrees with the raw rows.
    for link_id in (1, 2, 3):
        stats = await clicks.link_stats(
            link_id, now - timedelta(days=5), now + timedelta(hours=1), "hour"
        )
        humans = sum(n for k, n in expected.items() if k[:2] == ("hour", link_id) and not k[3])
        bots = sum(n for k, n in expected.items() if k[:2] == ("hour", link_id) and k[3])
        assert (stats.total, stats.bot_clicks) == (humans, bots)
        assert sum(p.clicks for p in stats.timeseries) == stats.total
        uniques = sum(n for k, n in expected.items() if k[:2] == ("visitors", link_id))
        assert stats.unique_visitors == uniques
        for dimension, field in DIMENSIONS.items():
            listed = {b.value: b.clicks for b in getattr(stats, field)}
            brute: Counter[str] = Counter()
            for key, n in expected.items():
                if key[:2] == (dimension, link_id) and not key[4]:
                    brute[key[3]] += n
            assert listed == dict(brute.most_common(10)), dimension


async def test_bots_are_flagged_and_kept_out_of_total(clicks: ClickService) -> None:
    await clicks.ingest([event(ua=GOOGLEBOT), event(ua=BROWSER_UA), event(ua=IPHONE)])
    stats = await clicks.link_stats(1, None, None, "day")
    assert (stats.total, stats.bot_clicks) == (2, 1)
    assert {b.value for b in stats.devices} == {"desktop", "mobile"}
    assert enrich(event(ua=GOOGLEBOT)).is_bot
    assert not enrich(event(ua=IPHONE)).is_bot


@pytest.mark.calendar
async def test_unique_visitors_count_distinct_people_per_day(
    clicks: ClickService, now: datetime
) -> None:
    await clicks.ingest(
        [
            event(visitor="alice"),
            event(visitor="alice"),
            event(visitor="bob"),
            event(ua=GOOGLEBOT, visitor="bot"),
        ],
    )
    stats = await clicks.link_stats(1, None, None, "day")
    assert stats.total == 3
    assert stats.unique_visitors == 2


async def test_clicks_the_redirect_sends_without_a_visitor_id_get_one_at_ingest(
    sessions: SessionMaker,
) -> None:
    """The redirect sends the address and agent and no id (hashing was a fifth of its work):
    ingest makes it, one visitor per client a day; an empty id stays no one."""
    visitors = VisitorHasher("salt")
    clicks = ClickService(sessions, visitors=visitors)
    made = [
        event(visitor=None, ip="192.0.2.1"),
        event(visitor=None, ip="192.0.2.1"),
        event(visitor=None, ip="192.0.2.2"),
        event(visitor="", ip=None),  # asked not to be tracked
    ]
    assert (await clicks.ingest(made)).ingested == 4
    stats = await clicks.link_stats(1, None, None, "day")
    assert (stats.total, stats.unique_visitors) == (4, 2)
    async with sessions() as session:
        stored = set((await session.execute(select(click_rows.c.visitor_id))).scalars())
    expected = {visitors.visitor_id(f"192.0.2.{n}", BROWSER_UA, made[0].ts) for n in (1, 2)}
    assert stored == {*expected, ""}


async def test_a_click_without_a_visitor_id_needs_the_salt(clicks: ClickService) -> None:
    with pytest.raises(ValueError, match="visitor salt"):
        await clicks.ingest([event(visitor=None, ip="192.0.2.1")])
    assert await clicks.click_count(1) == 0


async def test_breakdowns_by_referrer_country_browser_os(clicks: ClickService) -> None:
    await clicks.ingest(
        [
            event(referrer="https://news.ycombinator.com/item?id=1", country="de"),
            event(referrer="https://news.ycombinator.com/", country="DE", ua=IPHONE),
            event(referrer=None, country="not-a-country"),
        ],
    )
    stats = await clicks.link_stats(1, None, None, "day")
    assert [(b.value, b.clicks) for b in stats.referrers] == [
        ("news.ycombinator.com", 2),
        ("(direct)", 1),
    ]
    assert [(b.value, b.clicks) for b in stats.countries] == [("DE", 2), ("(unknown)", 1)]
    assert {b.value for b in stats.oses} == {"Windows", "iOS"}
    assert {b.value for b in stats.browsers} == {"Chrome", "Mobile Safari"}


async def test_stats_range_and_series(clicks: ClickService) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    await clicks.ingest(
        [
            event(at=day + timedelta(hours=1)),
            event(at=day + timedelta(hours=1, minutes=5)),
            event(at=day + timedelta(days=1, hours=3)),
        ],
    )
    by_day = await clicks.link_stats(1, day, day + timedelta(days=3), "day")
    assert [(p.ts, p.clicks) for p in by_day.timeseries] == [
        (day, 2),
        (day + timedelta(days=1), 1),
        (day + timedelta(days=2), 0),
    ]
    by_hour = await clicks.link_stats(1, day, day + timedelta(hours=3), "hour")
    assert [p.clicks for p in by_hour.timeseries] == [0, 2, 0]
    assert by_hour.total == 2


async def test_concurrent_batches_for_one_hot_link_count_exactly(clicks: ClickService) -> None:
    """Many replicas flushing at once for a viral link: no lost update on the rollup rows."""
    batches = [[event(visitor=f"v{b}-{i % 7}") for i in range(50)] for b in range(20)]
    results = await asyncio.gather(*(clicks.ingest(batch) for batch in batches))
    assert sum(r.ingested for r in results) == 1000
    stats = await clicks.link_stats(1, None, None, "hour")
    assert stats.total == 1000
    assert sum(b.clicks for b in stats.devices) == 1000
    assert stats.unique_visitors == 20 * 7
    # Delivered again, all at once: still exactly once.
    again = await asyncio.gather(*(clicks.ingest(batch) for batch in batches))
    assert sum(r.ingested for r in again) == 0
    assert await clicks.click_count(1) == 1000


async def test_what_the_operator_chose_not_to_record_is_not_kept(
    sessions: SessionMaker,
) -> None:
    service = ClickService(
        sessions, recording=Recording(referrer=False, user_agent=False, location=False)
    )
    now = datetime.now(UTC)
    await service.ingest(
        [
            event(1, ua=IPHONE, referrer="https://news.example/a", country="FR", at=now),
            event(1, ua=GOOGLEBOT, at=now),
        ]
    )
    async with sessions() as session:
        stored = (await session.execute(select(click_rows))).all()
    for click in stored:
        assert (click.referrer_host, click.country) == (NOT_RECORDED, None)
        assert (click.browser, click.os) == (NOT_RECORDED, NOT_RECORDED)
    assert sorted(c.is_bot for c in stored) == [False, True]  # bots are still told apart
    stats = await service.link_stats(1, now - timedelta(hours=1), now + timedelta(hours=1), "day")
    assert (stats.total, stats.bot_clicks) == (1, 1)
    assert [(b.value, b.clicks) for b in stats.referrers] == [(NOT_RECORDED, 1)]
    assert [(b.value, b.clicks) for b in stats.devices] == [(NOT_RECORDED, 1)]
    assert [(b.value, b.clicks) for b in stats.countries] == [("(unknown)", 1)]


@pytest.mark.calendar
async def test_a_visitor_who_asked_not_to_be_tracked_is_a_click_and_no_one(
    clicks: ClickService, now: datetime
) -> None:
    """The redirect sends the click of a request with Sec-GPC: 1 or DNT: 1 with an empty
    visitor, its user agent only to tell a bot: it counts, and keeps nothing of the visitor."""
    await clicks.ingest(
        [
            event(visitor="alice", referrer="https://news.example/a", country="FR", at=now),
            event(visitor="", ua=IPHONE, at=now),
            event(visitor="", ua=IPHONE, at=now),
            event(visitor="", ua=GOOGLEBOT, at=now),
        ]
    )
    stats = await clicks.link_stats(1, now - timedelta(hours=1), now + timedelta(hours=1), "day")
    assert (stats.total, stats.bot_clicks, stats.unique_visitors) == (3, 1, 1)
    assert sorted((b.value, b.clicks) for b in stats.devices) == [
        (NOT_RECORDED, 2),
        ("desktop", 1),
    ]
    assert sorted((b.value, b.clicks) for b in stats.referrers) == [
        (NOT_RECORDED, 2),
        ("news.example", 1),
    ]
    assert sorted((b.value, b.clicks) for b in stats.countries) == [("(unknown)", 2), ("FR", 1)]
