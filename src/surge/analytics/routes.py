"""Analytics' internal REST API: click ingest and stats queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from surge.analytics import service
from surge.data.contracts import ClickCount, LinkStats
from surge.data.events import unpack_batch
from surge.platform.db import SessionMaker
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import ProblemError

MAX_BATCH = 10_000


def get_sessions(request: Request) -> SessionMaker:
    sessions: SessionMaker = request.app.state.sessions
    return sessions


SessionsDep = Annotated[SessionMaker, Depends(get_sessions)]
router = APIRouter(prefix="/internal/analytics", dependencies=[Depends(require_internal_token)])


@router.post("/clicks")
async def ingest_clicks(request: Request, sessions: SessionsDep) -> dict[str, int]:
    try:
        events = unpack_batch(await request.body())
    except ValueError as exc:
        raise ProblemError(422, "validation-error", "Invalid click batch", str(exc)[:500]) from exc
    if len(events) > MAX_BATCH:
        raise ProblemError(
            413, "batch-too-large", "Batch too large", f"At most {MAX_BATCH} events."
        )
    result = await service.ingest(sessions, events)
    return {"received": result.received, "ingested": result.ingested}


@router.get("/links/{link_id}/stats")
async def link_stats(
    link_id: int,
    sessions: SessionsDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    interval: Annotated[service.Interval, Query()] = "day",
) -> LinkStats:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise ProblemError(
                400, "invalid-range", "Invalid range", f"'{name}' needs a time zone."
            )
    return await service.link_stats(sessions, link_id, start, end, interval)


@router.get("/links/{link_id}/count")
async def link_click_count(link_id: int, sessions: SessionsDep) -> ClickCount:
    return ClickCount(link_id=link_id, clicks=await service.click_count(sessions, link_id))
