"""The api with analytics away: links and redirects go on, stats say 503 and when to retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from surge.platform.admission import admission
from tests.conftest import Surge
from tests.helpers import wait_for


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


@pytest.mark.usefixtures("analytics_down")
async def test_the_analytics_breaker_opens_and_stats_fail_fast(
    surge: Surge, key: dict[str, str]
) -> None:
    calls = 0

    def counted(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("analytics is down", request=request)

    surge.links.analytics.client._transport = httpx.MockTransport(counted)
    slug = (
        await surge.client.post("/api/v1/links", json={"url": "https://e.com"}, headers=key)
    ).json()["slug"]
    threshold = surge.settings.breaker_threshold
    for _ in range(threshold + 3):
        stats = await surge.client.get(f"/api/v1/links/{slug}/stats", headers=key)
        assert stats.status_code == 503
        assert stats.headers["retry-after"] == "5"
    assert calls == threshold  # then open: the rest failed without asking analytics
    ready = await surge.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["breaker:analytics"].startswith("degraded")


async def test_api_requests_past_the_limit_are_shed_at_once(
    surge: Surge, key: dict[str, str]
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        raise httpx.ConnectError("analytics is down", request=request)

    surge.links.analytics.client._transport = httpx.MockTransport(slow)
    slug = (
        await surge.client.post("/api/v1/links", json={"url": "https://e.com"}, headers=key)
    ).json()["slug"]
    max_api, admission.max_api = admission.max_api, 1
    try:
        waiting = asyncio.create_task(surge.client.get(f"/api/v1/links/{slug}/stats", headers=key))
        await wait_for(_in_flight(1), what="the stats request to wait on analytics")
        shed = await surge.client.get("/api/v1/links", headers=key)
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["type"] == "urn:surge:problem:overloaded"
        page = await surge.client.get("/app/sign-in", headers={"accept": "text/html"})
        assert page.status_code == 503  # a person's browser is told so in a page
        assert page.headers["content-type"].startswith("text/html")
        assert "Reload this page in a few seconds" in page.text
        assert (await surge.client.get("/readyz")).status_code == 200  # health always answers
        assert (await surge.client.get(f"/{slug}")).status_code == 302  # cached redirect too
        release.set()
        assert (await waiting).status_code == 503
        # The redirect's click is being ingested meanwhile (in flight too, in this one process).
        await wait_for(_in_flight(0), what="the stats request and the click ingest to end")
        assert (await surge.client.get("/api/v1/links", headers=key)).status_code == 200
    finally:
        admission.max_api = max_api


def _in_flight(n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return admission.in_flight == n

    return check
