"""Analytics' internal REST API, and stats as the public API serves them."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from tests.conftest import Surge
from tests.helpers import BROWSER_UA, INTERNAL_TOKEN, assert_problem, row

TOKEN = {"x-surge-internal-token": INTERNAL_TOKEN}
CLICKS = "/internal/analytics/clicks"


async def count(surge: Surge, link_id: int) -> int:
    response = await surge.client.get(f"/internal/analytics/links/{link_id}/count", headers=TOKEN)
    assert response.status_code == 200
    clicks: int = response.json()["clicks"]
    return clicks


async def test_ingest_counts_new_events_and_skips_duplicates(surge: Surge) -> None:
    batch = [row(5), row(5)]
    first = await surge.client.post(CLICKS, json=batch, headers=TOKEN)
    assert first.json() == {"received": 2, "ingested": 2}
    again = await surge.client.post(CLICKS, json=batch, headers=TOKEN)
    assert again.json() == {"received": 2, "ingested": 0}
    assert await count(surge, 5) == 2


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"id": "x"}', id="not-a-row"),
        pytest.param(b'["x"]', id="too-few-fields"),
        pytest.param(
            b'["x", 7, "s", 1, null, null, null, "v", null, "1.2.3.4", "extra"]',
            id="too-many-fields",
        ),
        pytest.param(b'["x", "seven", "s", 1, null, null, null, "v"]', id="link-id-not-a-number"),
        pytest.param(
            b'{"id": "x", "link_id": 7, "slug": "s", "ts": 1, "visitor": "v",'
            b' "referrer": null, "user_agent": null, "country": null}',
            id="named-fields",
        ),
    ],
)
async def test_a_bad_batch_is_422_and_stores_nothing(surge: Surge, bad: bytes) -> None:
    good = row(7)
    good_then_bad = await surge.client.post(
        CLICKS,
        content=b"[" + orjson.dumps(good) + b", " + bad + b"]",
        headers={**TOKEN, "content-type": "application/json"},
    )
    problem = assert_problem(good_then_bad, 422, "validation-error")
    assert problem["detail"].startswith("Invalid click batch: ")
    assert await count(surge, 7) == 0  # not even the good row before the bad one
    # The good row was not what made the batch bad: alone, it is stored.
    alone = await surge.client.post(CLICKS, json=[good], headers=TOKEN)
    assert alone.json() == {"received": 1, "ingested": 1}
    assert await count(surge, 7) == 1


async def test_rows_of_earlier_versions_still_ingest(surge: Surge) -> None:
    """A spool file or a stream entry written before an upgrade: rows before the target (8
    fields) and before the client address (9) count as today's (10)."""
    batch = [row(9)[:8], row(9)[:9], row(9)]
    answer = await surge.client.post(CLICKS, json=batch, headers=TOKEN)
    assert answer.json() == {"received": 3, "ingested": 3}
    assert await count(surge, 9) == 3


async def test_internal_endpoints_need_the_token(surge: Surge) -> None:
    response = await surge.client.post(CLICKS, json=[row(5)])
    assert response.status_code == 403
    assert response.json()["type"] == "urn:surge:problem:forbidden"
    wrong = await surge.client.get(
        "/internal/links/abc", headers={"x-surge-internal-token": "nope-nope"}
    )
    assert wrong.status_code == 403
    assert await count(surge, 5) == 0


@pytest.mark.parametrize(
    ("params", "status", "problem"),
    [
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 400, "invalid-range"),
        (
            {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "interval": "hour"},
            400,
            "range-too-large",
        ),
        # No time zone: not the RFC 3339 date-time the OpenAPI description asks for.
        ({"from": "2026-01-01T00:00:00"}, 422, "validation-error"),
        ({"from": "1767225600"}, 422, "validation-error"),  # seconds since 1970 neither
        ({"interval": "minute"}, 422, "validation-error"),
        ({"from": "yesterday"}, 422, "validation-error"),
    ],
)
async def test_bad_stats_queries_are_4xx_problems(
    surge: Surge, key: dict[str, str], params: dict[str, str], status: int, problem: str
) -> None:
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com"}, headers=key
    )
    slug = created.json()["slug"]
    response = await surge.client.get(f"/api/v1/links/{slug}/stats", params=params, headers=key)
    assert_problem(response, status, problem)


@pytest.mark.calendar
async def test_stats_through_the_public_api(
    surge: Surge, key: dict[str, str], now: datetime
) -> None:
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com"}, headers=key
    )
    slug = created.json()["slug"]
    for ua, ip in ((BROWSER_UA, "192.0.2.1"), (BROWSER_UA, "192.0.2.1"), (BROWSER_UA, "192.0.2.2")):
        await surge.client.get(
            f"/{slug}", headers={"user-agent": ua, "x-test-client-ip": ip, "cf-ipcountry": "FR"}
        )
    await surge.client.get(
        f"/{slug}", headers={"user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    )
    stats = await surge.stats(slug, key, interval="hour")
    assert (stats["total"], stats["unique_visitors"], stats["bot_clicks"]) == (3, 2, 1)
    assert stats["countries"] == [{"value": "FR", "clicks": 3}]
    assert stats["devices"] == [{"value": "desktop", "clicks": 3}]
    assert sum(p["clicks"] for p in stats["timeseries"]) == 3
    assert set(stats) >= {"from", "to", "interval", "referrers", "browsers", "oses"}


async def test_a_stats_query_may_ask_for_more_values_per_breakdown(surge: Surge) -> None:
    """Ten per breakdown by default; a world map asks for every country."""
    countries = [f"{a}{b}" for a in "ABC" for b in "XYZW"]  # twelve
    batch = [
        [*row(11, ts=datetime.now().timestamp())[:6], country, *row(11)[7:]]
        for country in countries
    ]
    assert (await surge.client.post(CLICKS, json=batch, headers=TOKEN)).json()["ingested"] == 12
    stats = "/internal/analytics/links/11/stats"
    assert len((await surge.client.get(stats, headers=TOKEN)).json()["countries"]) == 10
    every = await surge.client.get(stats, params={"top": 300}, headers=TOKEN)
    assert sorted(b["value"] for b in every.json()["countries"]) == sorted(countries)
    for refused in ("0", "301"):
        answer = await surge.client.get(stats, params={"top": refused}, headers=TOKEN)
        assert_problem(answer, 422, "validation-error")
