"""Ingest and stats. The HTTP route and the stream consumer call the same `ClickService.ingest`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.clickhouse_orphans import ClickHouseOrphans
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.enrich import EVERYTHING, Click, Recording, enrich
from surge.analytics.geoip import GeoIP, Locate, nowhere
from surge.analytics.live import LiveFeed
from surge.analytics.orphan_ingest import split_orphans
from surge.analytics.orphan_repository import OrphanRepository
from surge.analytics.repository import VISITORS, ClickRepository, StatsRepository, VisitRepository
from surge.analytics.store import ClickStats, VisitReads, reads_from
from surge.data.contracts import (
    DIMENSIONS,
    TOP,
    Interval,
    LinkStats,
    VisitCounts,
    VisitCountsOut,
    VisitOut,
    VisitsPage,
    VisitsQuery,
)
from surge.data.events import ClickEvent
from surge.data.visitors import VisitorHasher
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction
from surge.platform.metrics import CLICKS_DUPLICATES, CLICKS_INGESTED, INGEST_DURATION
from surge.platform.problems import INVALID_RANGE, RANGE_TOO_LARGE
from surge.platform.tracing import ingest_span
from surge.webhooks.event_repository import ClickWebhooks

DEFAULT_RANGE = timedelta(days=7)
MAX_POINTS = 24 * 93  # a quarter by the hour, or about six years by the day
ENRICH_SLICE = 100  # events enriched between two yields to the event loop (~1 ms of work)


@dataclass(slots=True, frozen=True)
class IngestResult:
    received: int
    ingested: int  # new clicks; the rest were duplicates of events stored before


def _floor(moment: datetime, interval: Interval) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if interval == "day" else moment


def _step_s(interval: Interval) -> int:
    return 3600 if interval == "hour" else 86400


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
    if (end - _floor(start, interval)).total_seconds() / _step_s(interval) > MAX_POINTS:
        raise RANGE_TOO_LARGE(f"At most {MAX_POINTS} {interval}s per query.")
    return start, end


def _slots(start: datetime, end: datetime, interval: Interval) -> range:
    """The range's slots in epoch seconds (UTC has no DST, so a day is 86,400 of them), from the
    first slot it touches to the last."""
    first = int(_floor(start, interval).timestamp())
    last = int(end.timestamp()) + (end.microsecond > 0)
    return range(first, last, _step_s(interval))


def _series(
    counts: dict[int, int], start: datetime, end: datetime, interval: Interval
) -> list[dict[str, Any]]:
    """Zero-filled human clicks per slot, from the first slot of the range to the last, as
    plain dicts: a 90-day hourly series is 2,160 points, and per-point model building costs
    more than every query of the request together."""
    return [
        {"ts": datetime.fromtimestamp(ts, UTC), "clicks": counts.get(ts, 0)}
        for ts in _slots(start, end, interval)
    ]


# The JSON head of a series point, `{"ts":"<its time>","clicks":`, by its epoch second: a
# 90-day hourly series is 2,160 points, and making each a datetime and a dict for orjson took
# ~3-6 ms of a stats request; joined from these heads it takes ~1-1.7 ms, the same bytes
# (tests/analytics/test_service.py). Emptied past the bound (a few years of hours).
_POINT_HEADS: dict[int, bytes] = {}
_POINT_HEADS_MAX = 65_536


def _point_head(ts: int) -> bytes:
    if len(_POINT_HEADS) >= _POINT_HEADS_MAX:
        _POINT_HEADS.clear()
    head = b'{"ts":' + orjson.dumps(datetime.fromtimestamp(ts, UTC)) + b',"clicks":'
    _POINT_HEADS[ts] = head
    return head


def series_json(
    counts: dict[int, int], start: datetime, end: datetime, interval: Interval
) -> orjson.Fragment:
    """`_series` as the JSON orjson makes of it, to embed in an answer as it is."""
    heads, get = _POINT_HEADS, counts.get
    points = [
        b"%b%d}" % (heads.get(ts) or _point_head(ts), get(ts, 0))
        for ts in _slots(start, end, interval)
    ]
    return orjson.Fragment(b"[" + b",".join(points) + b"]")


class ClickService:
    def __init__(
        self,
        sessions: SessionMaker,
        geoip: GeoIP | None = None,
        recording: Recording = EVERYTHING,
        *,
        live: LiveFeed | None = None,
        webhooks: ClickWebhooks | None = None,
        visitors: VisitorHasher | None = None,
        clickhouse: ClickHouseClicks | None = None,
    ) -> None:
        self.sessions = sessions
        # Where raw clicks live when SURGE_CLICKHOUSE_URL is set; otherwise the SQL database's.
        self.clickhouse = clickhouse
        self.visitors = visitors  # makes the visitor ids of the redirect's clicks
        self.geoip = geoip  # locates clicks by their client address (SURGE_GEOIP_DB)
        self.recording = recording
        self.live = live  # told of each batch after its commit (the dashboard's live panels)
        self.webhooks = webhooks  # queues the new clicks for endpoints that take them

    async def ingest(self, events: Sequence[ClickEvent], links: Sequence[str] = ()) -> IngestResult:
        """Store a batch of click events exactly once each, raw and rolled up, in one
        transaction. `links`: traceparents of redirects whose clicks are in it (tracing)."""
        locate: Locate = nowhere
        if self.geoip is not None:
            if self.geoip.due():  # a stat, and a copy of the file when it changed: not here
                await asyncio.to_thread(self.geoip.refresh)
            locate = self.geoip.locate
        enriched: list[Click] = []
        for first in range(0, len(events), ENRICH_SLICE):
            if first:
                # Let the event loop serve other requests between slices: in the all-in-one
                # process it also answers redirects, and a whole batch is tens of ms of Python.
                await asyncio.sleep(0)
            enriched += [
                enrich(event, locate, self.recording, self.visitors)
                for event in events[first : first + ENRICH_SLICE]
            ]
        # Orphan visits (link 0, surge.data.orphans) share the batch and its transaction.
        enriched, orphans = split_orphans(events, enriched)
        with INGEST_DURATION.time(), ingest_span(links, len(events)):
            if self.clickhouse is not None:
                new_clicks = await self._store_clickhouse(self.clickhouse, enriched)
                ingested = new_clicks + await ClickHouseOrphans(self.clickhouse).ingest(orphans)
            else:
                async with transaction(self.sessions) as session:
                    new_clicks = await self._store(session, enriched)
                    ingested = new_clicks + await OrphanRepository(session).ingest(orphans)
        CLICKS_INGESTED.inc(ingested)
        CLICKS_DUPLICATES.inc(len(events) - ingested)
        if self.live is not None:
            await self.live.ingested(enriched, new_clicks)
        return IngestResult(received=len(events), ingested=ingested)

    async def _store(self, session: AsyncSession, enriched: list[Click]) -> int:
        """Store the clicks; those new to it go to the webhooks that take clicks, in the same
        transaction (a batch delivered again finds none new, and queues nothing twice)."""
        repo = ClickRepository(session)
        found = await self.webhooks.subscribers(session) if self.webhooks and enriched else []
        if not found:
            return await repo.ingest(enriched)
        assert self.webhooks is not None
        new = await repo.ingest_new(enriched)
        stored = len(new)
        fresh = []
        for click in enriched:  # each new one once, if the batch carried it twice
            if click.id in new:
                new.discard(click.id)
                fresh.append(click)
        await self.webhooks.queue(session, found, fresh)
        return stored

    async def _store_clickhouse(self, clickhouse: ClickHouseClicks, enriched: list[Click]) -> int:
        """Store the new clicks in ClickHouse. Those new to it are queued for the webhooks that
        take clicks first, in a transaction of the SQL database, then stored: a consumer killed
        in between gets the batch again and queues them again (webhooks are at-least-once
        anyway), where the other order could lose them. Days the roll-up job may have sealed
        already are re-rolled before the ack (surge.analytics.clickhouse_rollups)."""
        fresh = await clickhouse.fresh(enriched)
        if self.webhooks is not None and fresh:
            async with transaction(self.sessions) as session:
                found = await self.webhooks.subscribers(session)
                if found:
                    await self.webhooks.queue(session, found, fresh)
        await clickhouse.store(fresh)
        # The whole batch, not only its new clicks: a redelivery after a crash re-rolls again.
        await clickhouse.rollups.reroll_late(enriched, utc_now())
        return len(fresh)

    def _stats(self) -> AbstractAsyncContextManager[ClickStats]:
        store: ClickStats | None = self.clickhouse
        return reads_from(store, self.sessions, StatsRepository)

    def _visit_reads(self) -> AbstractAsyncContextManager[VisitReads]:
        store: VisitReads | None = self.clickhouse
        return reads_from(store, self.sessions, VisitRepository)

    async def delete_visits(self, link_id: int) -> int:
        """Forget every click of the link so far (raw, rolled up, its unique visitors); those
        from before now that arrive late are dropped at ingest. The clicks its stats counted."""
        if self.clickhouse is not None:
            return await self.clickhouse.delete_visits(link_id, utc_now())
        async with transaction(self.sessions) as session:
            counted, cut_off = await ClickRepository(session).delete_visits(link_id, utc_now)
        async with transaction(self.sessions) as session:
            await ClickRepository(session).delete_raw_visits(link_id, cut_off)
        return counted

    async def link_stats(
        self, link_id: int, start: datetime | None, end: datetime | None, interval: Interval
    ) -> LinkStats:
        return LinkStats.model_validate_json(
            await self.link_stats_json(link_id, start, end, interval)
        )

    async def link_stats_json(
        self,
        link_id: int,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        top: int = TOP,
    ) -> bytes:
        """The link's stats as the JSON of a `LinkStats`, `top` values per breakdown, what the
        route answers. Built by
        orjson from plain values, not validated here: the api validates it once, as it reads
        it (validating 2,160 hourly points on both sides cost ~2 ms of the request)."""
        start, end = stats_range(start, end, interval, utc_now())
        async with self._stats() as repo:
            # Breakdowns and unique visitors count by UTC day: the days the range touches.
            counts, totals, tops = await repo.link_stats(
                link_id, start, end, _step_s(interval), [*DIMENSIONS, VISITORS], top
            )
        return orjson.dumps(
            {
                "from": start,
                "to": end,
                "interval": interval,
                "total": totals[False],
                "unique_visitors": sum(n for _, n in tops[VISITORS]),
                "bot_clicks": totals[True],
                "timeseries": series_json(counts, start, end, interval),
                **{
                    field: [{"value": v, "clicks": n} for v, n in tops[dim]]
                    for dim, field in DIMENSIONS.items()
                },
            }
        )

    async def click_count(self, link_id: int) -> int:
        """All clicks a link has served, bots included: what `max_clicks` is measured against."""
        async with self._stats() as repo:
            return await repo.all_time_clicks(link_id)

    async def visit_counts(self, link_ids: Sequence[int]) -> VisitCountsOut:
        """All-time clicks of each link, humans and bots apart (rollups only)."""
        async with self._visit_reads() as repo:
            found = await repo.counts(link_ids)
        return VisitCountsOut(
            items=[VisitCounts(link_id=i, humans=h, bots=b) for i, (h, b) in found.items()]
        )

    async def visits(self, query: VisitsQuery) -> VisitsPage:
        """One page of the raw clicks of some links, newest first."""
        async with self._visit_reads() as repo:
            total, rows = await repo.visits(
                query.link_ids,
                start=query.start,
                end=query.end,
                exclude_bots=query.exclude_bots,
                offset=query.offset,
                limit=query.limit,
            )
        return VisitsPage(
            total=total, items=[VisitOut.model_validate(row, from_attributes=True) for row in rows]
        )
