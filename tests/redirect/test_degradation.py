"""The redirect when the api fails or hangs: its breaker opens and misses fail fast, cached
links go on, readiness says degraded; misses waiting on a slow api are bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from surge.platform.admission import admission
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from tests.fakes import LINK, FakeAnalytics, FakeApi
from tests.helpers import make_settings


@pytest.fixture
def api() -> FakeApi:
    return FakeApi({"viral": dict(LINK)})


async def started(
    tmp_path: Path, api: FakeApi, **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    service = RedirectService(
        make_settings(tmp_path, internal_timeout_s=0.2, **settings),
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(FakeAnalytics().handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            yield client


@pytest.fixture
async def client(tmp_path: Path, api: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    async for running in started(tmp_path, api, breaker_threshold=3, breaker_ttl_s=30):
        yield running


async def test_a_failing_api_opens_the_breaker_and_misses_fail_fast(
    client: httpx.AsyncClient, api: FakeApi
) -> None:
    assert (await client.get("/viral")).status_code == 302  # cached from now on
    api.down = True
    for n in range(6):
        miss = await client.get(f"/unknown-{n}")
        assert miss.status_code == 503
        assert miss.headers["retry-after"] == "5"
    assert api.calls == 1 + 3  # the breaker opened after 3 failures: the rest never asked
    assert (await client.get("/viral")).status_code == 302
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["api"].startswith("degraded")


async def test_a_hung_api_costs_a_few_timeouts_then_nothing(tmp_path: Path) -> None:
    calls = 0

    async def hung(request: httpx.Request) -> httpx.Response:
        # What the client sees of an api that accepts and never answers: its read timeout.
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        raise httpx.ReadTimeout("no answer", request=request)

    api = FakeApi()
    api.handle = hung  # type: ignore[method-assign]
    async for client in started(tmp_path, api, breaker_threshold=3, breaker_ttl_s=30):
        started_at = time.monotonic()
        for n in range(3):
            assert (await client.get(f"/slow-{n}")).status_code == 503
        opened_at = time.monotonic()
        for n in range(20):
            assert (await client.get(f"/fast-{n}")).status_code == 503
        fail_fast_s = time.monotonic() - opened_at
    # Three timeouts, then twenty refusals that do not wait on the api at all: it is not called
    # again, and the twenty together take less than ten of its timeouts (a bound with room for a
    # machine short of CPU, where they once took 0.9 s; waiting would take 4 s).
    assert opened_at - started_at >= 0.6
    assert calls == 3
    assert fail_fast_s < 10 * 0.2


async def test_misses_waiting_on_the_api_are_bounded(tmp_path: Path, api: FakeApi) -> None:
    api.delay_s = 0.15  # slow, not failing
    async for client in started(tmp_path, api, max_in_flight=4, breaker_threshold=100):
        answers = await asyncio.gather(*(client.get(f"/burst-{n}") for n in range(12)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(404) == 4  # admitted: the api said "no such slug"
        assert statuses.count(503) == 8  # refused at once, not queued behind the slow api
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "urn:surge:problem:overloaded"
        assert admission.in_flight == 0
        assert (await client.get("/healthz")).status_code == 200


async def test_a_refused_connection_is_retried_once_the_api_is_back(
    tmp_path: Path, api: FakeApi
) -> None:
    """A replica of the api restarting refuses a connection or two: the lookup (idempotent)
    is tried again after a short jittered wait instead of failing the visitor."""
    refusals = 2
    answer = api.handle

    async def restarting(request: httpx.Request) -> httpx.Response:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await answer(request)

    api.handle = restarting  # type: ignore[method-assign]
    async for client in started(tmp_path, api):
        assert (await client.get("/viral")).status_code == 302
    assert refusals == 0
