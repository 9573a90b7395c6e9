"""The redirect service alone, with its api and analytics faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import structlog.testing

from surge.apps import rsgi_app
from surge.data.events import click_row
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from tests.fakes import LINK, FakeAnalytics, FakeApi
from tests.helpers import BROWSER_UA, make_settings
from tests.rsgi import RsgiTransport


@dataclass
class Harness:
    service: RedirectService
    client: httpx.AsyncClient
    api: FakeApi
    analytics: FakeAnalytics
    rsgi: RsgiTransport | None  # None: served over ASGI (uvicorn's interface)


# Every test here runs over ASGI (uvicorn) and over RSGI (granian), where a cached redirect is
# answered by the native handler (surge.redirect.native) and the rest through the adapter.
@pytest.fixture(params=["asgi", "rsgi"])
async def harness(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    api, analytics = FakeApi({"viral": dict(LINK)}), FakeAnalytics()
    service = RedirectService(
        make_settings(tmp_path, click_flush_interval_ms=5000),  # flushed by the tests
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(analytics.handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        client_address = ("198.51.100.23", 5555)
        rsgi = (
            RsgiTransport(rsgi_app(lifespan), client_address) if request.param == "rsgi" else None
        )
        transport = rsgi or httpx.ASGITransport(app=lifespan, client=client_address)
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            yield Harness(service, client, api, analytics, rsgi)


def native_answers(h: Harness) -> list[str]:
    """How each request was answered over RSGI: "empty" is the native redirect."""
    assert h.rsgi is not None
    return [proto.calls[0] for proto in h.rsgi.answered]


async def flush(h: Harness) -> None:
    assert h.service.clicks is not None
    await h.service.clicks.flush()


async def test_redirects_with_location_and_records_a_click(harness: Harness) -> None:
    response = await harness.client.get(
        "/viral",
        headers={"user-agent": BROWSER_UA, "referer": "https://t.co/abc", "cf-ipcountry": "NL"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/%C3%BC?x=1"
    assert response.headers["cache-control"] == "private, max-age=0"
    await flush(harness)
    [click] = harness.analytics.events
    assert click.link_id == 7
    assert click.referrer == "https://t.co/abc"
    assert click.country == "NL"
    assert click.user_agent == BROWSER_UA
    # The client IP goes to analytics, which locates the click and makes its visitor id from
    # it (tests/analytics/test_ingest.py) and never stores it: the redirect sends no id.
    assert click.ip == "198.51.100.23"
    assert click.visitor is None


RULED = {
    **LINK,
    "link_id": 8,
    "slug": "ruled",
    "rules": [
        {"url": "https://example.com/nl", "conditions": [{"type": "language", "value": "nl"}]}
    ],
}


@pytest.mark.parametrize(("slug", "target"), [("viral", None), ("ruled", "https://example.com/nl")])
async def test_the_row_the_redirect_buffers_is_click_rows(
    harness: Harness, slug: str, target: str | None
) -> None:
    """The redirect builds the click's tuple itself (a call less on the hot path), for a plain
    link and for a link with rules: each field in the place surge.data.events.click_row puts
    it."""
    harness.api.links["ruled"] = RULED
    headers = {"user-agent": BROWSER_UA, "referer": "https://t.co/abc", "cf-ipcountry": "NL"}
    headers["accept-language"] = "nl-BE"
    assert (await harness.client.get(f"/{slug}", headers=headers)).status_code == 302
    assert (await harness.client.get(f"/{slug}", headers=headers)).status_code == 302  # cached
    assert harness.service.clicks is not None
    first, row = harness.service.clicks.events
    assert first[1:3] == row[1:3]
    assert first[4:] == row[4:]
    ts = row[3]
    assert row == click_row(
        id=row[0],
        link_id=RULED["link_id"] if target else LINK["link_id"],
        slug=slug,
        ts=ts,
        referrer="https://t.co/abc",
        user_agent=BROWSER_UA,
        country="NL",
        visitor=None,
        target=target,
        ip="198.51.100.23",
    )
    assert isinstance(ts, float)


@pytest.mark.parametrize("slug", ["viral", "ruled"])
@pytest.mark.parametrize("asked", [{"sec-gpc": "1"}, {"dnt": "1"}])
async def test_a_visitor_who_asks_not_to_be_tracked_leaves_a_click_without_them(
    harness: Harness, slug: str, asked: dict[str, str]
) -> None:
    """Global Privacy Control or Do Not Track: the click counts (link, time, target); no
    referrer, country, address or visitor id leaves the redirect; the user agent goes only for
    analytics to tell a bot (analytics keeps nothing of it then)."""
    harness.api.links["ruled"] = RULED
    headers = {"user-agent": BROWSER_UA, "referer": "https://t.co/abc", "cf-ipcountry": "NL"}
    headers["accept-language"] = "nl"
    answer = await harness.client.get(f"/{slug}", headers={**headers, **asked})
    assert answer.status_code == 302
    await harness.client.get(f"/{slug}", headers={**headers, "sec-gpc": "0", "dnt": "0"})
    await flush(harness)
    private, tracked = harness.analytics.events
    assert (private.referrer, private.country, private.ip, private.visitor) == (
        None,
        None,
        None,
        "",
    )
    assert private.user_agent == BROWSER_UA
    assert private.target == tracked.target  # where it went is the link's, not the visitor's
    assert (tracked.referrer, tracked.country, tracked.ip) == (
        "https://t.co/abc",
        "NL",
        "198.51.100.23",
    )
    assert tracked.visitor is None  # made at ingest from the address and agent


async def test_concurrent_misses_reach_the_api_once(harness: Harness) -> None:
    harness.api.delay_s = 0.05
    responses = await asyncio.gather(*(harness.client.get("/viral") for _ in range(50)))
    assert {r.status_code for r in responses} == {302}
    assert harness.api.calls == 1
    await flush(harness)
    assert len(harness.analytics.events) == 50
    assert len({e.id for e in harness.analytics.events}) == 50
    assert len(harness.analytics.batches) == 1  # one batch, not one request per click


async def test_unknown_slugs_are_cached_negatively(harness: Harness) -> None:
    for _ in range(3):
        assert (await harness.client.get("/nope")).status_code == 404
    assert harness.api.calls == 1


async def test_invalidation_takes_effect_on_the_next_request(harness: Harness) -> None:
    assert (await harness.client.get("/viral")).status_code == 302
    harness.api.links["viral"] = {**LINK, "url": "https://example.org/new"}
    token = {"x-surge-internal-token": "test-internal-token"}
    evicted = await harness.client.post(
        "/internal/redirect/invalidate", json={"slugs": ["viral"]}, headers=token
    )
    assert evicted.status_code == 200
    assert (await harness.client.get("/viral")).headers["location"] == "https://example.org/new"


async def test_invalidation_needs_the_internal_token(harness: Harness) -> None:
    response = await harness.client.post("/internal/redirect/invalidate", json={"slugs": ["viral"]})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_not_found_body_follows_accept(harness: Harness) -> None:
    html = await harness.client.get("/nope", headers={"accept": "text/html,*/*"})
    assert html.status_code == 404
    assert html.headers["content-type"].startswith("text/html")
    assert "Link not found" in html.text
    problem = await harness.client.get("/nope", headers={"accept": "application/json"})
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["type"] == "urn:surge:problem:link-not-found"
    head = await harness.client.head("/nope")
    assert (head.status_code, head.content) == (404, b"")


@pytest.mark.parametrize("path", ["/", "/a/b", "/bad.slug", "/" + "x" * 65])
async def test_paths_that_cannot_be_slugs_are_404_without_asking_the_api(
    harness: Harness, path: str
) -> None:
    assert (await harness.client.get(path)).status_code == 404
    assert harness.api.calls == 0


async def test_other_methods_are_405(harness: Harness) -> None:
    response = await harness.client.post("/viral")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_head_redirects_but_is_not_a_click(harness: Harness) -> None:
    response = await harness.client.head("/viral")
    assert response.status_code == 302
    await flush(harness)
    assert harness.analytics.events == []


async def test_expired_by_date_is_410(harness: Harness) -> None:
    harness.api.links["soon"] = {**LINK, "slug": "soon", "expires_at": "2030-01-01T00:00:00Z"}
    harness.service.clock = lambda: 1_893_455_999.0  # a second before
    assert (await harness.client.get("/soon")).status_code == 302
    harness.service.clock = lambda: 1_893_456_000.0
    gone = await harness.client.get("/soon", headers={"accept": "application/json"})
    assert gone.status_code == 410
    assert gone.json()["type"] == "urn:surge:problem:link-expired"


async def test_expired_by_clicks_counts_earlier_clicks_and_its_own(harness: Harness) -> None:
    harness.api.links["few"] = {**LINK, "slug": "few", "max_clicks": 3, "clicks": 1}
    statuses = [(await harness.client.get("/few")).status_code for _ in range(4)]
    assert statuses == [302, 302, 410, 410]


async def test_api_down_an_expired_entry_is_served_stale(harness: Harness) -> None:
    assert (await harness.client.get("/viral")).status_code == 302
    harness.service.cache.clear()  # as if its TTL ran out
    harness.api.down = True
    assert (await harness.client.get("/viral")).status_code == 302


async def test_api_down_uncached_is_503_cached_keeps_redirecting(harness: Harness) -> None:
    assert (await harness.client.get("/viral")).status_code == 302
    harness.api.down = True
    assert (await harness.client.get("/viral")).status_code == 302
    unavailable = await harness.client.get("/other")
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "5"


async def test_clicks_survive_an_analytics_outage_in_the_spool(harness: Harness) -> None:
    harness.analytics.down = True
    for _ in range(5):
        await harness.client.get("/viral")
    await flush(harness)
    assert harness.service.clicks is not None
    spool = harness.service.clicks.spool
    assert spool is not None
    assert spool.pending
    assert spool.own_path.stat().st_size > 0
    await harness.client.get("/viral")
    await flush(harness)  # still down: the new batch queues behind the spooled one
    assert harness.analytics.events == []
    harness.analytics.down = False
    await flush(harness)
    assert len(harness.analytics.events) == 6
    assert not spool.pending
    assert spool.own_path.stat().st_size == 0


async def test_shutdown_flushes_buffered_clicks(tmp_path: Path) -> None:
    api, analytics = FakeApi({"viral": dict(LINK)}), FakeAnalytics()
    service = RedirectService(
        make_settings(tmp_path, click_flush_interval_ms=10_000),
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(analytics.handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            for _ in range(3):
                await client.get("/viral")
        assert analytics.events == []
    assert len(analytics.events) == 3


async def test_health_and_readiness(harness: Harness) -> None:
    assert (await harness.client.get("/healthz")).json() == {"status": "ok"}
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 200


@pytest.mark.parametrize(("sample", "logged"), [(0.0, 0), (1.0, 3)])
async def test_redirect_access_logs_are_sampled(tmp_path: Path, sample: float, logged: int) -> None:
    api = FakeApi({"viral": dict(LINK)})
    service = RedirectService(
        make_settings(tmp_path, redirect_log_sample=sample),
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(FakeAnalytics().handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            with structlog.testing.capture_logs() as events:
                for _ in range(3):
                    assert (await client.get("/viral")).status_code == 302
    redirects = [e for e in events if e["event"] == "redirect"]
    assert len(redirects) == logged
    assert all(e["slug"] == "viral" and e["status"] == 302 for e in redirects)


@pytest.mark.parametrize("harness", ["rsgi"], indirect=True)
async def test_cached_plain_redirects_are_answered_natively_over_rsgi(harness: Harness) -> None:
    """Over RSGI, a cached plain link's redirect never becomes ASGI messages; a miss, a 404
    (an orphan visit), a link with rules and the health check go through the ASGI app."""
    harness.api.links["ruled"] = RULED
    for path in ["/viral", "/viral", "/nope", "/nope", "/ruled", "/ruled", "/healthz"]:
        await harness.client.get(path)
    assert (await harness.client.head("/viral")).status_code == 302
    answered = native_answers(harness)
    assert answered == ["bytes", "empty", "bytes", "bytes", "bytes", "bytes", "bytes", "empty"]
    await flush(harness)
    slugs = [e.slug for e in harness.analytics.events]
    assert slugs == ["viral", "viral", "/nope", "/nope", "ruled", "ruled"]
