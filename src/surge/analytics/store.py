"""The boundary between ClickService and where clicks are stored: the SQL database's rollups
(surge.analytics.repository) or ClickHouse (surge.analytics.clickhouse_repository). Both
answer these reads with the same shapes, so the service's code is the same for either."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from surge.platform.db import SessionMaker

Reads = TypeVar("Reads")


@asynccontextmanager
async def reads_from(
    clickhouse: Reads | None, sessions: SessionMaker, sql: Callable[[AsyncSession], Reads]
) -> AsyncIterator[Reads]:
    """Where a service reads clicks: the ClickHouse store when there is one, else the SQL
    repository `sql` on a session of its own for the block."""
    if clickhouse is not None:
        yield clickhouse
        return
    async with sessions() as session:
        yield sql(session)


class ClickStats(Protocol):
    """One link's stats: what StatsRepository reads from the rollups."""

    async def link_stats(
        self,
        link_id: int,
        start: datetime,
        end: datetime,
        step_s: int,
        dimensions: Sequence[str],
        limit: int,
    ) -> tuple[dict[int, int], dict[bool, int], dict[str, list[tuple[str, int]]]]:
        """`slots`, and `breakdowns` over the UTC days the range touches, at once."""
        ...

    async def all_time_clicks(self, link_id: int) -> int: ...


class VisitReads(Protocol):
    """Clicks of many links: what VisitRepository reads."""

    async def counts(self, link_ids: Sequence[int]) -> dict[int, tuple[int, int]]: ...

    async def visits(
        self,
        link_ids: Sequence[int],
        *,
        start: datetime | None,
        end: datetime | None,
        exclude_bots: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, Sequence[Any]]: ...
