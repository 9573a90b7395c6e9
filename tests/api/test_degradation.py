"""The api with analytics away: links and redirects go on, stats say 503 and when to retry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Surge


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("analytics is down", request=request)


@pytest.fixture
async def analytics_down(surge: Surge) -> AsyncIterator[None]:
    working = surge.links.analytics.client
    surge.links.analytics.client = httpx.AsyncClient(
        base_url="http://analytics", transport=httpx.MockTransport(unreachable)
    )
    yield
    await surge.links.analytics.client.aclose()
    surge.links.analytics.client = working


@pytest.mark.usefixtures("analytics_down")
async def test_stats_are_503_with_retry_after(surge: Surge, key: dict[str, str]) -> None:
    created = await surge.client.post("/api/v1/links", json={"url": "https://e.com"}, headers=key)
    assert created.status_code == 201
    slug = created.json()["slug"]
    assert (await surge.client.get(f"/{slug}")).status_code == 302
    stats = await surge.client.get(f"/api/v1/links/{slug}/stats", headers=key)
    assert stats.status_code == 503
    assert stats.headers["retry-after"] == "5"
    assert stats.json()["type"] == "urn:surge:problem:analytics-unavailable"


@pytest.mark.usefixtures("analytics_down")
async def test_click_limited_links_still_redirect(surge: Surge, key: dict[str, str]) -> None:
    body = {"url": "https://e.com", "max_clicks": 2}
    slug = (await surge.client.post("/api/v1/links", json=body, headers=key)).json()["slug"]
    statuses = [(await surge.client.get(f"/{slug}")).status_code for _ in range(3)]
    assert statuses == [302, 302, 410]
