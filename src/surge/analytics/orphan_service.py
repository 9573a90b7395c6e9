"""Orphan visits in analytics: their stats, raw page, totals and deletion. (Ingest picks them
out of each click batch: surge.analytics.orphan_ingest.)"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import orjson

from surge.analytics.clickhouse_orphans import ClickHouseOrphans
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.orphan_repository import OrphanRepository
from surge.analytics.service import _step_s, series_json, stats_range
from surge.analytics.store import reads_from
from surge.data.contracts import DIMENSIONS, TOP, Interval
from surge.data.orphans import (
    DeletedOrphanVisits,
    OrphanCounts,
    OrphanVisitOut,
    OrphanVisitsPage,
    OrphanVisitsQuery,
)
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction


class OrphanService:
    def __init__(self, sessions: SessionMaker, clickhouse: ClickHouseClicks | None = None) -> None:
        self.sessions = sessions
        # Where orphan visits live when SURGE_CLICKHOUSE_URL is set: the same reads, from there.
        self.clickhouse = None if clickhouse is None else ClickHouseOrphans(clickhouse)

    def _reads(self) -> AbstractAsyncContextManager[Any]:
        """OrphanRepository, or its ClickHouse twin (the same methods and answers)."""
        return reads_from(self.clickhouse, self.sessions, OrphanRepository)

    async def stats_json(
        self,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        domain: str | None,
        top: int = TOP,
    ) -> bytes:
        """The JSON of an `OrphanStats`: totals, series and kinds from the rollup; breakdowns,
        paths and unique visitors from the range's raw rows."""
        start, end = stats_range(start, end, interval, utc_now())
        step = _step_s(interval)
        async with self._reads() as repo:
            hours = await repo.hourly(start, end, domain)
            tops = await repo.breakdowns(start, end, domain, top)
            visitors = await repo.unique_visitors(start, end, domain)
        slots: dict[int, int] = {}
        kinds: dict[str, int] = {}
        totals = {False: 0, True: 0}
        for ts, kind, is_bot, n in hours:
            totals[is_bot] += n
            if not is_bot:
                slot = ts // step * step
                slots[slot] = slots.get(slot, 0) + n
                kinds[kind] = kinds.get(kind, 0) + n
        ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        return orjson.dumps(
            {
                "from": start,
                "to": end,
                "interval": interval,
                "total": totals[False],
                "unique_visitors": visitors,
                "bot_clicks": totals[True],
                "timeseries": series_json(slots, start, end, interval),
                **{
                    field: [{"value": v, "clicks": n} for v, n in tops[dim]]
                    for dim, field in DIMENSIONS.items()
                    if dim in tops
                },
                "kinds": [{"value": k, "clicks": n} for k, n in ranked],
                "paths": [{"value": v, "clicks": n} for v, n in tops["path"]],
            }
        )

    async def visits(self, query: OrphanVisitsQuery) -> OrphanVisitsPage:
        """One page of raw orphan visits, newest first."""
        async with self._reads() as repo:
            total, rows = await repo.page(
                domain=query.domain,
                kind=query.kind,
                start=query.start,
                end=query.end,
                exclude_bots=query.exclude_bots,
                offset=query.offset,
                limit=query.limit,
            )
        return OrphanVisitsPage(
            total=total,
            items=[OrphanVisitOut.model_validate(r, from_attributes=True) for r in rows],
        )

    async def counts(self) -> OrphanCounts:
        async with self._reads() as repo:
            humans, bots = await repo.totals()
        return OrphanCounts(humans=humans, bots=bots)

    async def delete_all(self) -> DeletedOrphanVisits:
        """Forget every orphan visit so far (raw and rolled up); those from before now that
        arrive late are dropped at ingest."""
        if self.clickhouse is not None:
            return DeletedOrphanVisits(deleted=await self.clickhouse.delete_all(utc_now()))
        async with transaction(self.sessions) as session:
            counted, cut_off = await OrphanRepository(session).delete_all(utc_now)
        async with transaction(self.sessions) as session:
            await OrphanRepository(session).delete_raw_before(cut_off)
        return DeletedOrphanVisits(deleted=counted)
