"""The api's client of analytics' orphan-visit routes (surge.analytics.orphan_routes). As for a
link's stats: analytics' answers to a bad range are raised again as they came; anything else
from it (an error, no answer, a body that cannot be read) is a 503."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from surge.data.contracts import Interval
from surge.data.orphans import (
    DeletedOrphanVisits,
    OrphanCounts,
    OrphanStats,
    OrphanVisitsPage,
    OrphanVisitsQuery,
)
from surge.links.analytics_client import STATS_PROBLEMS, AnalyticsDown
from surge.platform.breakers import Breaker, BreakerOpen
from surge.platform.http import idempotent_retries
from surge.platform.logging import get_logger
from surge.platform.problems import ANALYTICS_UNAVAILABLE, ProblemError

log = get_logger(__name__)
PREFIX = "/internal/analytics/orphans"
_Answer = TypeVar("_Answer", bound=BaseModel)


def _unavailable() -> ProblemError:
    return ANALYTICS_UNAVAILABLE(
        "Analytics did not answer; try again shortly.", headers={"Retry-After": "5"}
    )


class OrphanClient:
    def __init__(self, client: httpx.AsyncClient, breaker: Breaker | None = None) -> None:
        self.client = client
        self.breaker = breaker  # analytics' breaker, the links' stats share it

    async def stats(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        domain: str | None,
        top: int | None = None,
    ) -> OrphanStats:
        params: dict[str, str] = {"interval": interval}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        if domain is not None:
            params["domain"] = domain
        if top is not None:
            params["top"] = str(top)
        return await self._ask("GET", "/stats", OrphanStats, params=params)

    async def visits(self, query: OrphanVisitsQuery) -> OrphanVisitsPage:
        body = query.model_dump(mode="json")
        return await self._ask("POST", "/visits", OrphanVisitsPage, json=body)

    async def counts(self) -> OrphanCounts:
        return await self._ask("GET", "/counts", OrphanCounts)

    async def delete_all(self) -> int:
        """Sent once: sent again after a lost answer, it would delete visits made since."""
        found = await self._ask("DELETE", "", DeletedOrphanVisits, retry=False)
        return found.deleted

    async def _ask(
        self, method: str, path: str, model: type[_Answer], *, retry: bool = True, **kw: Any
    ) -> _Answer:
        try:
            if retry:  # a read: safe to send again
                async for attempt in idempotent_retries():
                    with attempt:
                        response = await self._send(method, path, **kw)
            else:
                response = await self._send(method, path, **kw)
        except (httpx.HTTPError, AnalyticsDown, BreakerOpen) as exc:
            raise _unavailable() from exc
        relayed = ProblemError.relayed(response, STATS_PROBLEMS)
        if relayed is not None:
            raise relayed
        if response.status_code == 200:
            try:
                return model.model_validate_json(response.content)
            except ValueError:
                log.warning("orphan_answer_unreadable", path=path)
        raise _unavailable()

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async with nullcontext() if self.breaker is None else self.breaker.guard():
            response = await self.client.request(method, PREFIX + path, **kw)
            if response.status_code >= 500:
                raise AnalyticsDown(response.status_code)
        return response
