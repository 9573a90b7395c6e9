"""The ClickHouse click store is exact under at-least-once delivery: every figure equals a
brute-force count over the distinct clicks, however often and in whatever batches they came,
copies in unmerged parts included. Each test runs on clickhouse-server and on chdb."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from surge.analytics.clickhouse_repository import ClickHouseClicks, day_us, to_us
from surge.analytics.enrich import EVERYTHING, enrich
from surge.analytics.geoip import nowhere
from surge.analytics.repository import hour_of
from surge.analytics.service import ClickService
from surge.data.contracts import DIMENSIONS, VisitsQuery
from surge.data.events import ClickEvent
from surge.platform.clickhouse import ClickHouse, literal
from tests.analytics.test_ingest import dimension_values
from tests.helpers import BROWSER_UA, GOOGLEBOT, IPHONE, event


def the_store(clicks: ClickService) -> ClickHouseClicks:
    assert clicks.clickhouse is not None
    return clicks.clickhouse


async def stored_rows(clickhouse: ClickHouse) -> int:
    """Rows on disk, copies not merged yet included (no FINAL)."""
    rows = await clickhouse.rows(f"SELECT count() FROM {clickhouse.database}.clicks")
    return int(rows[0][0])


ADDRESSES = [None, "192.0.2.1", "198.51.100.2", "2001:db8:1::3", "2001:db8:2::4", "203.0.113.5"]


def random_events(now: datetime, count: int, seed: int = 7) -> list[ClickEvent]:
    rng = random.Random(seed)
    return [
        event(
            rng.randint(1, 3),
            ua=rng.choice([BROWSER_UA, IPHONE, GOOGLEBOT, None, "curl/8.5.0"]),
            visitor=f"v{rng.randint(1, 20)}",
            # Across UTC midnights and several days, out of order.
            at=now - timedelta(hours=rng.randint(0, 72), minutes=rng.randint(0, 59)),
            referrer=rng.choice([None, "https://t.co/x", "https://news.ycombinator.com/item?id=1"]),
            country=rng.choice([None, None, "DE", "us", "BR"]),
            ip=rng.choice(ADDRESSES),  # located where the service has GeoIP
        )
        for _ in range(count)
    ]


def brute_force(events: list[ClickEvent]) -> Counter[tuple[Any, ...]]:
    """Every figure the stats show, counted from scratch over the distinct events."""
    expected: Counter[tuple[Any, ...]] = Counter()
    visitors: dict[tuple[int, Any], set[str]] = {}
    for click in {e.id: enrich(e, nowhere, EVERYTHING, None) for e in events}.values():
        expected[("hour", click.link_id, hour_of(click.occurred_at), click.is_bot)] += 1
        day = click.occurred_at.date()
        expected[("day", click.link_id, day, click.is_bot)] += 1
        for dimension, value in dimension_values(click).items():
            expected[(dimension, click.link_id, value, click.is_bot)] += 1
        if not click.is_bot:
            visitors.setdefault((click.link_id, day), set()).add(click.visitor_id)
    for (link_id, _day), ids in visitors.items():
        expected[("visitors", link_id)] += len(ids)
    return expected


async def assert_stats_equal_brute_force(
    clicks: ClickService, events: list[ClickEvent], now: datetime
) -> None:
    expected = brute_force(events)
    start, end = now - timedelta(days=5), now + timedelta(hours=1)
    for link_id in (1, 2, 3):
        for interval in ("hour", "day"):
            stats = await clicks.link_stats(link_id, start, end, interval)
            series = {p.ts: p.clicks for p in stats.timeseries if p.clicks}
            assert series == {
                key[2] if interval == "hour" else datetime(*key[2].timetuple()[:3], tzinfo=UTC): n
                for key, n in expected.items()
                if key[:2] == (interval, link_id) and not key[3]
            }, interval
            humans = sum(n for k, n in expected.items() if k[:2] == ("hour", link_id) and not k[3])
            bots = sum(n for k, n in expected.items() if k[:2] == ("hour", link_id) and k[3])
            assert (stats.total, stats.bot_clicks) == (humans, bots)
            assert stats.unique_visitors == expected[("visitors", link_id)]
            for dimension, field in DIMENSIONS.items():
                listed = {b.value: b.clicks for b in getattr(stats, field)}
                brute: Counter[str] = Counter()
                for key, n in expected.items():
                    if key[:2] == (dimension, link_id) and not key[3]:
                        brute[key[2]] += n
                assert listed == dict(brute.most_common(10)), dimension
        assert await clicks.click_count(link_id) == humans + bots


async def test_a_batch_delivered_again_counts_once(clickhouse_clicks: ClickService) -> None:
    first = [event(), event()]
    assert (await clickhouse_clicks.ingest(first)).ingested == 2
    again = await clickhouse_clicks.ingest([first[0], event()])
    assert (again.received, again.ingested) == (2, 1)
    duplicate = event()  # a batch carrying the same event twice
    assert (await clickhouse_clicks.ingest([duplicate, duplicate])).ingested == 1
    assert (await clickhouse_clicks.link_stats(1, None, None, "day")).total == 4
    assert await clickhouse_clicks.click_count(1) == 4


async def test_overlapping_and_repeated_batches_equal_a_brute_force_count(
    clickhouse_clicks: ClickService, clickhouse: ClickHouse, now: datetime
) -> None:
    events = random_events(now, 600)
    for start in range(0, 600, 150):  # overlapping batches: at-least-once delivery
        await clickhouse_clicks.ingest(events[max(0, start - 20) : start + 150])
    again = events[:]
    random.Random(3).shuffle(again)
    for start in range(0, 600, 200):  # all of it again, in other batches
        assert (await clickhouse_clicks.ingest(again[start : start + 200])).ingested == 0
    assert await stored_rows(clickhouse) == 600
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)


async def test_a_consumer_killed_between_insert_and_ack_counts_once(
    clickhouse_clicks: ClickService, clickhouse: ClickHouse, now: datetime
) -> None:
    """The insert landed, the ack did not: the entry comes back. Worse still, two consumers
    race on it (both find its clicks new) and store them twice, in parts no merge has joined:
    every figure still counts each click once."""
    events = random_events(now, 300, seed=11)
    await clickhouse_clicks.ingest(events)
    store = the_store(clickhouse_clicks)
    enriched = [enrich(e, nowhere, EVERYTHING, None) for e in events]
    await store.store(enriched[:200])  # the racing copy, past the check for known ids
    await store.store(enriched[100:])
    assert await stored_rows(clickhouse) == 700  # copies on disk, unmerged
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)
    counts = await clickhouse_clicks.visit_counts([1, 2, 3])
    assert sum(c.humans + c.bots for c in counts.items) == 300
    visits = await clickhouse_clicks.visits(_query([1, 2, 3], limit=500))
    assert visits.total == len(visits.items) == 300
    # The redelivered entry itself finds every click known.
    assert (await clickhouse_clicks.ingest(events)).ingested == 0
    # Merges keep one row of each.
    await clickhouse.execute(f"OPTIMIZE TABLE {clickhouse.database}.clicks FINAL")
    assert await stored_rows(clickhouse) == 300
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)


async def test_deleted_visits_stop_counting_and_late_copies_stay_out(
    clickhouse_clicks: ClickService, now: datetime
) -> None:
    before = [event(2, at=now - timedelta(hours=h)) for h in range(1, 6)] + [event(3)]
    await clickhouse_clicks.ingest(before)
    assert await clickhouse_clicks.delete_visits(2) == 5
    assert (await clickhouse_clicks.link_stats(2, None, None, "hour")).total == 0
    assert await clickhouse_clicks.click_count(2) == 0
    # A copy of a deleted click, and a click from before the deletion, arrive late: not stored.
    late = await clickhouse_clicks.ingest([before[0], event(2, at=now - timedelta(hours=7))])
    assert late.ingested == 0
    after = event(2, at=now + timedelta(seconds=1))
    assert (await clickhouse_clicks.ingest([after])).ingested == 1
    counts = await clickhouse_clicks.visit_counts([2, 3])
    assert {c.link_id: c.humans for c in counts.items} == {2: 1, 3: 1}
    page = await clickhouse_clicks.visits(_query([2]))
    assert page.total == 1
    assert [v.occurred_at for v in page.items] == [enrich(after, nowhere).occurred_at]


def test_times_are_epoch_microseconds_exactly() -> None:
    moment = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC)
    assert to_us(moment) == int(moment.replace(microsecond=0).timestamp()) * 10**6 + 999_999
    assert day_us(moment.date()) == int(datetime(2026, 3, 29, tzinfo=UTC).timestamp()) * 10**6


def _query(link_ids: list[int], *, limit: int = 100) -> VisitsQuery:
    return VisitsQuery(link_ids=link_ids, limit=limit)


async def test_retention_drops_whole_months_past_the_cutoff(
    clickhouse_clicks: ClickService, clickhouse: ClickHouse
) -> None:
    months = [datetime(2026, m, 10, 12, tzinfo=UTC) for m in (1, 2, 3)]
    await clickhouse_clicks.ingest([event(1, at=at) for at in months for _ in range(2)])
    store = the_store(clickhouse_clicks)
    # March 5th: January and February are wholly before it, March is not.
    assert await store.drop_months_before(datetime(2026, 3, 5, tzinfo=UTC)) == ["202601", "202602"]
    assert await stored_rows(clickhouse) == 2
    assert await clickhouse_clicks.click_count(1) == 2
    assert await store.drop_months_before(datetime(2026, 3, 5, tzinfo=UTC)) == []


async def test_values_reach_clickhouse_as_they_are(clickhouse: ClickHouse) -> None:
    """Strings a user chooses (a domain filter, an export cursor's id) are literals, never SQL."""
    nasty = ["it's", "back\\slash\\", "\\'; DROP TABLE clicks; --", "tab\tnew\nline", "é ✓ \x01"]
    rows = await clickhouse.rows("SELECT " + ", ".join(literal(s) for s in nasty))
    assert rows == [nasty]
