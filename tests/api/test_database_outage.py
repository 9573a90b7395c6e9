"""The api on a database that does not answer: every call is a 503 problem with Retry-After,
soon without even trying (the database breaker), and readiness says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.e2e.processes import free_port
from tests.helpers import make_settings


@pytest.fixture
async def api_without_database(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # A PostgreSQL URL where nothing listens: connections are refused at once.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/surge"
    api = ApiService(make_settings(tmp_path, database_url=url, db_timeout_s=1.0), migrate=False)
    async with Lifespan(api.app, [api]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_calls_are_503_problems_with_retry_after(
    api_without_database: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": "Bearer sk_live_whatever_it_is"}
    for _ in range(8):  # past the breaker's threshold: refused, then failing fast
        answer = await api_without_database.get("/api/v1/links", headers=headers)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["type"] == "urn:surge:problem:database-unavailable"
    created = await api_without_database.post(
        "/api/v1/links", json={"url": "https://example.com"}, headers=headers
    )
    assert created.status_code == 503
    ready = await api_without_database.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"].startswith("unreachable")


async def test_shlinks_health_fails_with_the_database(
    api_without_database: httpx.AsyncClient,
) -> None:
    health = await api_without_database.get("/rest/health")
    assert health.status_code == 503
    assert health.headers["content-type"] == "application/health+json"
    assert health.json()["status"] == "fail"
