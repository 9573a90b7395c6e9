"""The all-in-one as `surge serve` builds it: analytics on a loop of its own, so a batch it
ingests never holds the loop that answers redirects (surge.platform.side_loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge.analytics.app import AnalyticsService
from surge.analytics.service import IngestResult
from surge.apps import build_services
from surge.data.events import ClickEvent
from surge.platform.config import Settings
from surge.platform.service import Lifespan
from surge.platform.side_loop import ThreadedService
from surge.services.api import ApiService
from tests.helpers import PUBLIC_URL, make_settings, wait_for

HOLD_S = 10.0  # the longest the test holds an ingest; it lets go as soon as it has checked
REDIRECTS = 20


@asynccontextmanager
async def all_in_one(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], ThreadedService]]:
    """`surge serve`'s all-in-one with analytics on a side thread (SURGE_ALL_IN_ONE_ANALYTICS=
    thread; the child process is tests/e2e/test_serve_child.py's), with a key and the link /s."""
    threaded = settings.model_copy(update={"all_in_one_analytics": "thread"})
    app, services = build_services("all", threaded)
    async with Lifespan(app, services):
        api = next(s for s in services if isinstance(s, ApiService))
        analytics = next(s for s in services if isinstance(s, ThreadedService))
        assert api.keys is not None
        headers = {"Authorization": f"Bearer {(await api.keys.create('side')).secret}"}
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            created = await client.post(
                "/api/v1/links", json={"url": "https://example.com/", "slug": "s"}, headers=headers
            )
            assert created.status_code == 201, created.text
            yield client, headers, analytics


@pytest.fixture
async def surge(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], ThreadedService]]:
    async with all_in_one(make_settings(tmp_path)) as started:
        yield started


async def total_clicks(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/api/v1/links/s/stats", headers=headers)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def test_redirects_are_answered_while_an_ingest_holds_its_loop(
    surge: tuple[httpx.AsyncClient, dict[str, str], ThreadedService],
) -> None:
    """An ingest that holds its event loop (as a large batch's Python does) stops no redirect,
    and every click is counted once it lets go. On one shared loop the hold would freeze the
    redirects until HOLD_S ran out, and the check below would fail."""
    client, headers, analytics = surge
    service = analytics.service
    assert isinstance(service, AnalyticsService)
    assert service.clicks is not None
    clicks = service.clicks
    ingest = clicks.ingest
    entered, release = threading.Event(), threading.Event()
    held: list[tuple[int, bool]] = []  # the ingest's thread; whether the test let it go in time

    async def holding_ingest(events: Sequence[ClickEvent], links: Sequence[str] = ()) -> Any:
        if not held:
            entered.set()
            held.append((threading.get_ident(), release.wait(HOLD_S)))  # blocks its loop
        result: IngestResult = await ingest(events, links)
        return result

    clicks.ingest = holding_ingest  # type: ignore[method-assign]
    first = await client.get("/s")
    assert first.status_code == 302

    async def ingest_entered() -> bool:
        return entered.is_set()

    await wait_for(ingest_entered, what="the click flusher to hand the first click over")
    for _ in range(REDIRECTS):  # each must be answered while the ingest still holds its loop
        response = await asyncio.wait_for(client.get("/s"), HOLD_S / 2)
        assert response.status_code == 302
    release.set()
    side_thread = analytics.side.thread
    assert side_thread is not None

    async def let_go() -> bool:
        return bool(held)

    await wait_for(let_go, what="the held ingest to end")
    (thread, in_time), = held  # fmt: skip
    assert in_time, "the redirects waited for the held ingest"
    assert thread == side_thread.ident != threading.get_ident()

    async def all_counted() -> bool:
        return await total_clicks(client, headers) == 1 + REDIRECTS

    await wait_for(all_counted, what="every click counted once")


async def test_the_first_stats_call_after_the_first_redirect_is_answered(
    surge: tuple[httpx.AsyncClient, dict[str, str], ThreadedService],
) -> None:
    """Crossing to the side loop and back: a stats call right after a redirect is a 200."""
    client, headers, _ = surge
    assert (await client.get("/s")).status_code == 302
    assert await total_clicks(client, headers) in (0, 1)


async def test_stopping_flushes_the_clicks_and_ends_the_side_thread(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, click_flush_interval_ms=60_000)  # only the stop flushes
    async with all_in_one(settings) as (client, _, analytics):
        for _ in range(3):
            assert (await client.get("/s")).status_code == 302
        thread = analytics.side.thread
        assert thread is not None
        assert thread.is_alive()
    assert not thread.is_alive()
    # A fresh process on the same database: the three clicks were stored at the stop.
    app, services = build_services("all", settings, side_loop=False)
    async with Lifespan(app, services):
        found = next(s for s in services if isinstance(s, AnalyticsService))
        assert found.clicks is not None
        assert await found.clicks.click_count(1) == 3
