"""The link service's analytics client: a validated LinkStats, analytics' range problems
passed on as they came, and everything else a 503 the client can retry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from surge.data.contracts import LinkStats
from surge.links.analytics_client import AnalyticsClient
from surge.platform.problems import (
    ANALYTICS_UNAVAILABLE,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_RANGE,
    ProblemError,
    ProblemType,
)

STATS = {
    "from": "2026-11-01T00:00:00Z",
    "to": "2026-11-02T00:00:00Z",
    "interval": "day",
    "total": 3,
    "unique_visitors": 2,
    "bot_clicks": 1,
    "timeseries": [{"ts": "2026-11-01T00:00:00Z", "clicks": 3}],
    "referrers": [{"value": "(direct)", "clicks": 3}],
    "countries": [],
    "devices": [],
    "browsers": [],
    "oses": [],
}


def analytics(answer: Callable[[httpx.Request], httpx.Response]) -> AnalyticsClient:
    transport = httpx.MockTransport(answer)
    return AnalyticsClient(httpx.AsyncClient(base_url="http://analytics", transport=transport))


def problem(kind: ProblemType, detail: str) -> httpx.Response:
    body = {"type": kind.uri, "title": kind.title, "status": kind.status, "detail": detail}
    return httpx.Response(
        kind.status,
        content=orjson.dumps(body),
        headers={"content-type": "application/problem+json"},
    )


async def stats_of(client: AnalyticsClient) -> LinkStats:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return await client.stats(7, start=start, end=None, interval="day")


async def test_stats_are_validated_and_the_query_is_passed_on() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=STATS)

    stats = await stats_of(analytics(answer))
    assert stats.total == 3
    assert stats.referrers[0].value == "(direct)"
    assert seen[0].url.path == "/internal/analytics/links/7/stats"
    assert dict(seen[0].url.params) == {"interval": "day", "from": "2026-11-01T00:00:00+00:00"}


async def test_a_range_problem_from_analytics_reaches_the_client_as_it_came() -> None:
    client = analytics(lambda _: problem(INVALID_RANGE, "'from' must be before 'to'."))
    with pytest.raises(ProblemError) as raised:
        await stats_of(client)
    assert raised.value.problem is INVALID_RANGE
    assert raised.value.detail == "'from' must be before 'to'."


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("down", request=request)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(unreachable, id="no answer"),
        pytest.param(lambda _: problem(INTERNAL_ERROR, "boom"), id="500"),
        # A wrong internal token is our misconfiguration, not the user's: never a 403 to them.
        pytest.param(lambda _: problem(FORBIDDEN, "token"), id="403 from analytics"),
        pytest.param(lambda _: httpx.Response(200, json={"total": "many"}), id="unreadable 200"),
        pytest.param(lambda _: httpx.Response(404, text="not json"), id="plain 404"),
    ],
)
async def test_anything_else_is_a_503_with_retry_after(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    with pytest.raises(ProblemError) as raised:
        await stats_of(analytics(answer))
    assert raised.value.problem is ANALYTICS_UNAVAILABLE
    assert raised.value.headers == {"Retry-After": "5"}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(unreachable, id="no answer"),
        pytest.param(lambda _: problem(INTERNAL_ERROR, "boom"), id="500"),
        pytest.param(lambda _: httpx.Response(200, json={"clicks": "many"}), id="unreadable 200"),
    ],
)
async def test_a_click_count_analytics_cannot_give_is_zero(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    assert await analytics(answer).click_count(7) == 0


async def test_the_click_count_is_what_analytics_counted() -> None:
    client = analytics(lambda _: httpx.Response(200, json={"link_id": 7, "clicks": 41}))
    assert await client.click_count(7) == 41
