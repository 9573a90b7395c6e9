"""Shared fixtures: an all-in-one Surge on a temporary SQLite file, driven through ASGI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from surge.analytics.app import AnalyticsService
from surge.analytics.consumer import ClickStreamConsumer
from surge.apps import build_services
from surge.links.app import ApiService
from surge.links.keys import create_key
from surge.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.db import create_engine
from surge.platform.migrations import upgrade_to_head
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from tests.services import (
    REDIS_URL,
    create_database,
    drop_database,
    require_redis,
    throwaway_redis_prefix,
    truncate_all,
)

T = TypeVar("T")
PUBLIC_URL = "http://sho.rt"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Poll `check` until it is true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


async def stream_drained(consumer: ClickStreamConsumer) -> bool:
    """Every entry of the click stream delivered to the group and acknowledged."""
    redis, stream, group = consumer.redis, consumer.stream, consumer.group
    if not await redis.exists(stream):
        return True
    info: Any = await redis.xinfo_stream(stream)
    groups: Any = await redis.xinfo_groups(stream)
    ours = next((g for g in groups if g["name"] in (group, group.encode())), None)
    if ours is None:
        return False
    return bool(ours["pending"] == 0 and ours["last-delivered-id"] == info["last-generated-id"])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}",
        "public_url": PUBLIC_URL,
        "internal_token": "test-internal-token",
        "click_flush_interval_ms": 10,
        "bootstrap_admin_key": False,
        "country_header": "cf-ipcountry",
        "client_ip_header": "x-test-client-ip",
        "spool_dir": tmp_path / "spool",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Surge:
    """An all-in-one Surge in this event loop, and a client onto it."""

    settings: Settings
    client: httpx.AsyncClient
    links: LinkService
    redirect: RedirectService
    analytics: AnalyticsService

    async def new_key(self, name: str = "tester") -> dict[str, str]:
        key = await create_key(self.links.sessions, name)
        return {"Authorization": f"Bearer {key.secret}"}

    async def flush_clicks(self) -> None:
        """Send buffered clicks and wait until analytics has stored them."""
        assert self.redirect.clicks is not None
        await self.redirect.clicks.flush()
        consumer = self.analytics.consumer
        if consumer is not None:
            await wait_for(lambda: stream_drained(consumer), what="the click stream to drain")

    async def stats(self, slug: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
        await self.flush_clicks()
        response = await self.client.get(
            f"/api/v1/links/{slug}/stats", headers=headers, params=params
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def _in_thread(work: Callable[[], Awaitable[T]]) -> T:
    """Run async set-up in its own loop: session fixtures may be reached from a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty it before use."""

    async def create() -> str:
        url = await create_database()
        engine = create_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()
        return url

    url = _in_thread(create)
    try:
        yield url
    finally:
        _in_thread(lambda: drop_database(url))


@pytest.fixture(params=["embedded", "production"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Settings that pick a backend: SQLite + in-process, or PostgreSQL + Redis."""
    if request.param == "embedded":
        yield {}
        return
    require_redis()
    database_url: str = request.getfixturevalue("postgres_database")
    await truncate_all(database_url)
    async with throwaway_redis_prefix() as prefix:
        yield {
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "migrate_on_start": False,  # the session's database is migrated once
        }


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, Any]) -> Settings:
    return make_settings(tmp_path, **backend)


@pytest.fixture
async def surge(settings: Settings) -> AsyncIterator[Surge]:
    app, services = build_services("all", settings)
    lifespan = Lifespan(app, services)
    async with lifespan:
        api = next(s for s in services if isinstance(s, ApiService))
        redirect = next(s for s in services if isinstance(s, RedirectService))
        analytics = next(s for s in services if isinstance(s, AnalyticsService))
        transport = httpx.ASGITransport(app=lifespan, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield Surge(settings, client, api.app.state.link_service, redirect, analytics)


@pytest.fixture
async def key(surge: Surge) -> dict[str, str]:
    return await surge.new_key()
