"""Shared fixtures: an all-in-one Surge on a temporary SQLite file, driven through ASGI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge.apps import build_services
from surge.links.keys import create_key
from surge.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService

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


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}",
        "public_url": PUBLIC_URL,
        "internal_token": "test-internal-token",
        "click_flush_interval_ms": 10,
        "bootstrap_admin_key": False,
        "country_header": "cf-ipcountry",
        "client_ip_header": "x-test-client-ip",
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

    async def new_key(self, name: str = "tester") -> dict[str, str]:
        key = await create_key(self.links.sessions, name)
        return {"Authorization": f"Bearer {key.secret}"}

    async def flush_clicks(self) -> None:
        assert self.redirect.clicks is not None
        await self.redirect.clicks.flush()

    async def stats(self, slug: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
        await self.flush_clicks()
        response = await self.client.get(
            f"/api/v1/links/{slug}/stats", headers=headers, params=params
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def surge(settings: Settings) -> AsyncIterator[Surge]:
    app, services = build_services("all", settings)
    lifespan = Lifespan(app, services)
    async with lifespan:
        api = next(s for s in services if s.name == "api")
        redirect = next(s for s in services if isinstance(s, RedirectService))
        transport = httpx.ASGITransport(app=lifespan, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield Surge(settings, client, api.app.state.link_service, redirect)


@pytest.fixture
async def key(surge: Surge) -> dict[str, str]:
    return await surge.new_key()
