"""Ingest and stats. The HTTP route and the stream consumer call the same `ClickService.ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from surge.analytics.enrich import enrich
from surge.analytics.repository import ClickRepository, StatsRepository, rollup_deltas
from surge.data.contracts import DIMENSIONS, Breakdown, CountPoint, Interval, LinkStats
from surge.data.events import ClickEvent
from surge.platform.db import SessionMaker, transaction
from surge.platform.problems import INVALID_RANGE, RANGE_TOO_LARGE

DEFAULT_RANGE = timedelta(days=7)
MAX_POINTS = 24 * 93  # a quarter by the hour, or about six years by the day
TOP = 10


@dataclass(slots=True, frozen=True)
class IngestResult:
    received: int
    ingested: int  # new clicks; the rest were duplicates of events stored before


def _floor(moment: datetime, interval: Interval) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if interval == "day" else moment


def _step(interval: Interval) -> timedelta:
    return timedelta(hours=1) if interval == "hour" else timedelta(days=1)


def stats_range(
    start: datetime | None, end: datetime | None, interval: Interval, now: datetime
) -> tuple[datetime, datetime]:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise INVALID_RANGE(f"'{name}' needs a time zone.")
    end = (end or now).astimezone(UTC)
    start = (start or end - DEFAULT_RANGE).astimezone(UTC)
    if start >= end:
        raise INVALID_RANGE("'from' must be before 'to'.")
    if (end - _floor(start, interval)) / _step(interval) > MAX_POINTS:
        raise RANGE_TOO_LARGE(f"At most {MAX_POINTS} {interval}s per query.")
    return start, end


def _series(
    hourly: list[tuple[datetime, int]], start: datetime, end: datetime, interval: Interval
) -> list[CountPoint]:
    """Zero-filled points from the first bucket of the range to the last."""
    counts: dict[datetime, int] = {}
    for bucket, n in hourly:
        key = _floor(bucket, interval)
        counts[key] = counts.get(key, 0) + n
    points = []
    cursor = _floor(start, interval)
    while cursor < end:
        points.append(CountPoint(ts=cursor, clicks=counts.get(cursor, 0)))
        cursor += _step(interval)
    return points


class ClickService:
    def __init__(self, sessions: SessionMaker) -> None:
        self.sessions = sessions

    async def ingest(self, events: Sequence[ClickEvent]) -> IngestResult:
        """Store a batch of click events exactly once each, raw and rolled up, in one
        transaction."""
        enriched = [enrich(event) for event in events]
        async with transaction(self.sessions) as session:
            repo = ClickRepository(session)
            new = await repo.insert_new(enriched)
            if new:
                await repo.add_to_rollups(rollup_deltas(new))
                await repo.add_visitors([c for c in new if not c.is_bot])
        return IngestResult(received=len(events), ingested=len(new))

    async def link_stats(
        self, link_id: int, start: datetime | None, end: datetime | None, interval: Interval
    ) -> LinkStats:
        start, end = stats_range(start, end, interval, datetime.now(UTC))
        async with self.sessions() as session:
            repo = StatsRepository(session)
            totals = await repo.totals(link_id, start, end)
            hourly = await repo.hourly(link_id, start, end)
            uniques = await repo.unique_visitors(
                link_id, start.date(), (end - timedelta(microseconds=1)).date()
            )
            tops = {dim: await repo.top(link_id, start, end, dim, TOP) for dim in DIMENSIONS}
        return LinkStats.model_validate(
            {
                "from": start,
                "to": end,
                "interval": interval,
                "total": totals.get(False, 0),
                "unique_visitors": uniques,
                "bot_clicks": totals.get(True, 0),
                "timeseries": _series(hourly, start, end, interval),
                **{
                    field: [Breakdown(value=v, clicks=n) for v, n in tops[dim]]
                    for dim, field in DIMENSIONS.items()
                },
            }
        )

    async def click_count(self, link_id: int) -> int:
        """All clicks a link has served, bots included: what `max_clicks` is measured against."""
        async with self.sessions() as session:
            return await StatsRepository(session).all_time_clicks(link_id)
