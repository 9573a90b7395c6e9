"""Shlink's visits, tags, domains, health and Mercure endpoints, and CORS, against Surge."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.requests import Request

from surge.analytics.enrich import parse_agent
from surge.shlink.cors import preflight
from surge.shlink.schemas import (
    DomainsList,
    Health,
    NotFoundRedirects,
    RedirectRules,
    ShortUrl,
    TagsList,
    TagsStats,
    VisitsDeletion,
    VisitsList,
    VisitsOverview,
)
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, GOOGLEBOT, make_settings
from tests.shlink.contract import REST, shlink_key, shlink_problem, valid


async def make(surge: Surge, api_key: dict[str, str], slug: str, *tags: str) -> None:
    body = {"longUrl": f"https://example.com/{slug}", "customSlug": slug, "tags": list(tags)}
    assert (await surge.client.post(f"{REST}/short-urls", json=body, headers=api_key)).is_success


async def click(surge: Surge, slug: str, agent: str = BROWSER_UA, **headers: str) -> None:
    response = await surge.client.get(f"/{slug}", headers={"User-Agent": agent, **headers})
    assert response.status_code == 302


async def test_deleting_a_short_urls_visits(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "gone")
    await make(surge, api_key, "kept")
    for slug in ("gone", "gone", "kept"):
        await click(surge, slug)
    await surge.flush_clicks()
    url = f"{REST}/short-urls/gone/visits"
    deleted = valid(await surge.client.delete(url, headers=api_key), VisitsDeletion)
    assert deleted.deletedVisits == 2
    assert valid(await surge.client.get(url, headers=api_key), VisitsList).visits.data == []
    short = valid(await surge.client.get(f"{REST}/short-urls/gone", headers=api_key), ShortUrl)
    assert short.visitsSummary.total == 0
    kept = f"{REST}/short-urls/kept/visits"
    assert len(valid(await surge.client.get(kept, headers=api_key), VisitsList).visits.data) == 1
    missing = await surge.client.delete(f"{REST}/short-urls/nope/visits", headers=api_key)
    shlink_problem(missing, 404, "short-url-not-found")


async def test_visits_of_a_short_url_newest_first_paginated(
    surge: Surge, key: dict[str, str]
) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "vis")
    await click(surge, "vis", Referer="https://news.example/item", **{"cf-ipcountry": "DE"})
    await click(surge, "vis", GOOGLEBOT)
    await click(surge, "vis")
    await surge.flush_clicks()
    url = f"{REST}/short-urls/vis/visits"
    first = valid(
        await surge.client.get(url, params={"itemsPerPage": 2}, headers=api_key), VisitsList
    )
    assert first.visits.pagination.totalItems == 3
    assert first.visits.pagination.pagesCount == 2
    everything = valid(await surge.client.get(url, headers=api_key), VisitsList).visits.data
    assert [v.date for v in everything] == sorted((v.date for v in everything), reverse=True)
    assert [v.potentialBot for v in everything].count(True) == 1
    located = [v for v in everything if v.visitLocation is not None]
    assert [
        (v.visitLocation.countryCode, v.visitLocation.countryName)
        for v in located
        if v.visitLocation
    ] == [("DE", "Germany")]
    assert located[0].referer == "news.example"
    # The user agent is rebuilt from the families stored: Shlink's clients read the same ones.
    clicked_with = parse_agent(BROWSER_UA)
    for human in (v for v in everything if not v.potentialBot):
        parsed = parse_agent(human.userAgent)
        assert (parsed.browser, parsed.os) == (clicked_with.browser, clicked_with.os)
    assert [v.userAgent for v in everything if v.potentialBot] == ["Googlebot/1.0 (+bot)"]
    assert all(v.visitedUrl == "http://sho.rt/vis" for v in everything)
    humans = valid(
        await surge.client.get(url, params={"excludeBots": "true"}, headers=api_key), VisitsList
    )
    assert humans.visits.pagination.totalItems == 2
    later = valid(
        await surge.client.get(url, params={"startDate": "2100-01-01T00:00:00Z"}, headers=api_key),
        VisitsList,
    )
    assert later.visits.data == []
    shlink_problem(
        await surge.client.get(f"{REST}/short-urls/nope/visits", headers=api_key),
        404,
        "short-url-not-found",
    )


async def test_tag_domain_non_orphan_visits_and_overview(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "t1", "red")
    await make(surge, api_key, "t2", "blue")
    await click(surge, "t1")
    await click(surge, "t2")
    await click(surge, "t2", GOOGLEBOT)
    await surge.flush_clicks()
    get = surge.client.get
    red = valid(await get(f"{REST}/tags/red/visits", headers=api_key), VisitsList)
    assert red.visits.pagination.totalItems == 1
    shlink_problem(await get(f"{REST}/tags/green/visits", headers=api_key), 404, "tag-not-found")
    every = valid(await get(f"{REST}/visits/non-orphan", headers=api_key), VisitsList)
    assert every.visits.pagination.totalItems == 3
    by_domain = valid(await get(f"{REST}/domains/DEFAULT/visits", headers=api_key), VisitsList)
    assert by_domain.visits.pagination.totalItems == 3
    shlink_problem(
        await get(f"{REST}/domains/other.example/visits", headers=api_key), 404, "domain-not-found"
    )
    orphans = valid(await get(f"{REST}/visits/orphan", headers=api_key), VisitsList)
    assert orphans.visits.data == []
    overview = valid(await get(f"{REST}/visits", headers=api_key), VisitsOverview).visits
    assert overview.nonOrphanVisits.model_dump() == {"total": 3, "nonBots": 2, "bots": 1}
    assert overview.orphanVisits.total == 0
    # Another key's visits are not this key's.
    other = shlink_key(await surge.new_key("other"))
    mine = valid(await get(f"{REST}/visits/non-orphan", headers=other), VisitsList)
    assert mine.visits.pagination.totalItems == 0


async def test_tags_list_and_stats(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "a1", "alpha", "beta")
    await make(surge, api_key, "a2", "beta")
    await click(surge, "a2")
    await surge.flush_clicks()
    tags = valid(await surge.client.get(f"{REST}/tags", headers=api_key), TagsList)
    assert tags.tags.data == ["alpha", "beta"]
    stats = valid(await surge.client.get(f"{REST}/tags/stats", headers=api_key), TagsStats)
    beta = next(t for t in stats.tags.data if t.tag == "beta")
    assert (beta.shortUrlsCount, beta.visitsSummary.total) == (2, 1)
    paged = valid(
        await surge.client.get(
            f"{REST}/tags/stats",
            params={"orderBy": "shortUrlsCount-DESC", "itemsPerPage": 1},
            headers=api_key,
        ),
        TagsStats,
    )
    assert [t.tag for t in paged.tags.data] == ["beta"]
    assert paged.tags.pagination.pagesCount == 2


async def test_domains_health_and_mercure(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    domains = valid(await surge.client.get(f"{REST}/domains", headers=api_key), DomainsList)
    assert [(d.domain, d.isDefault) for d in domains.domains.data] == [("sho.rt", True)]
    health = await surge.client.get("/rest/health")
    assert health.status_code == 200
    versioned = await surge.client.get(f"{REST}/health")  # what Shlink's SDK and web UI call
    assert versioned.content == health.content
    assert health.headers["content-type"] == "application/health+json"
    assert Health.model_validate_json(health.content).status == "pass"
    shlink_problem(
        await surge.client.get(f"{REST}/mercure-info", headers=api_key),
        501,
        "mercure-not-configured",
    )


async def test_domains_with_their_redirects(surge: Surge, key: dict[str, str]) -> None:
    """Several domains as Shlink lists them, a domain's redirects set as Shlink sets them (an
    admin key's), and short URLs on a domain that is not the default one."""
    assert surge.api.keys is not None
    bearer = {"Authorization": f"Bearer {(await surge.api.keys.create('a', is_admin=True)).secret}"}
    admin = shlink_key(bearer)
    added = await surge.client.post(
        "/api/v1/domains", json={"host": "go.example.com"}, headers=bearer
    )
    assert added.status_code == 201
    patch = {"domain": "go.example.com", "baseUrlRedirect": "https://example.com/home"}
    changed = await surge.client.patch(f"{REST}/domains/redirects", json=patch, headers=admin)
    assert valid(changed, NotFoundRedirects).baseUrlRedirect == "https://example.com/home"
    refused = await surge.client.patch(
        f"{REST}/domains/redirects", json=patch, headers=shlink_key(key)
    )
    assert refused.status_code == 403
    default = {"domain": "sho.rt", "baseUrlRedirect": "https://example.com/"}
    answer = await surge.client.patch(f"{REST}/domains/redirects", json=default, headers=admin)
    shlink_problem(answer, 400, "invalid-data")
    listed = valid(await surge.client.get(f"{REST}/domains", headers=admin), DomainsList)
    assert [(d.domain, d.isDefault) for d in listed.domains.data] == [
        ("sho.rt", True),
        ("go.example.com", False),
    ]
    assert listed.domains.data[1].redirects.baseUrlRedirect == "https://example.com/home"

    body = {"longUrl": "https://example.com/x", "customSlug": "x", "domain": "go.example.com"}
    made = await surge.client.post(f"{REST}/short-urls", json=body, headers=admin)
    created = valid(made, ShortUrl)
    assert (created.domain, created.shortUrl) == ("go.example.com", "http://go.example.com/x")
    on_default = await surge.client.get(f"{REST}/short-urls/x", headers=admin)
    shlink_problem(on_default, 404, "short-url-not-found")
    on_go = await surge.client.get(
        f"{REST}/short-urls/x", params={"domain": "go.example.com"}, headers=admin
    )
    assert valid(on_go, ShortUrl).longUrl == "https://example.com/x"
    went = await surge.client.get("/", headers={"host": "go.example.com"})
    assert went.headers["location"] == "https://example.com/home"


async def test_redirect_rules_as_shlink_sets_and_lists_them(
    surge: Surge, key: dict[str, str]
) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "rr")
    url = f"{REST}/short-urls/rr/redirect-rules"
    empty = valid(await surge.client.get(url, headers=api_key), RedirectRules)
    assert (empty.defaultLongUrl, empty.redirectRules) == ("https://example.com/rr", [])
    body = {
        "redirectRules": [
            {
                "longUrl": "https://example.com/android-de",
                "conditions": [
                    {"type": "device", "matchKey": None, "matchValue": "android"},
                    {"type": "language", "matchKey": None, "matchValue": "de"},
                ],
            },
            {
                "longUrl": "https://example.com/promo",
                "conditions": [{"type": "query-param", "matchKey": "utm", "matchValue": "promo"}],
            },
        ]
    }
    set_ = valid(await surge.client.post(url, json=body, headers=api_key), RedirectRules)
    assert [(r.priority, r.longUrl) for r in set_.redirectRules] == [
        (1, "https://example.com/android-de"),
        (2, "https://example.com/promo"),
    ]
    assert valid(await surge.client.get(url, headers=api_key), RedirectRules) == set_
    went = await surge.client.get("/rr?utm=promo", headers={"User-Agent": BROWSER_UA})
    # The rule's target, with the visitor's query forwarded (forwardQuery is on by default)
    assert went.headers["location"] == "https://example.com/promo?utm=promo"
    short = valid(await surge.client.get(f"{REST}/short-urls/rr", headers=api_key), ShortUrl)
    assert short.hasRedirectRules

    bad = {
        "redirectRules": [
            {"longUrl": "https://e.com", "conditions": [{"type": "device", "matchValue": "fridge"}]}
        ]
    }
    shlink_problem(await surge.client.post(url, json=bad, headers=api_key), 400, "invalid-data")
    assert valid(await surge.client.get(url, headers=api_key), RedirectRules) == set_

    # deviceLongUrls, Shlink's older shape of device rules, on create and edit.
    made = await surge.client.post(
        f"{REST}/short-urls",
        json={
            "longUrl": "https://example.com/app",
            "customSlug": "dev",
            "deviceLongUrls": {"android": "https://play.example.com/app"},
        },
        headers=api_key,
    )
    assert valid(made, ShortUrl).deviceLongUrls.android == "https://play.example.com/app"
    edited = await surge.client.patch(
        f"{REST}/short-urls/dev",
        json={"deviceLongUrls": {"android": None, "ios": "https://apps.example.com/app"}},
        headers=api_key,
    )
    devices = valid(edited, ShortUrl).deviceLongUrls
    assert (devices.android, devices.ios) == (None, "https://apps.example.com/app")
    cleared = await surge.client.post(
        f"{REST}/short-urls/dev/redirect-rules", json={"redirectRules": []}, headers=api_key
    )
    assert valid(cleared, RedirectRules).redirectRules == []


async def test_a_browser_preflight_from_another_origin_is_granted(
    surge: Surge, key: dict[str, str]
) -> None:
    preflight = await surge.client.options(
        f"{REST}/short-urls",
        headers={
            "Origin": "https://app.shlink.io",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    real = await surge.client.get(
        f"{REST}/short-urls", headers={**shlink_key(key), "Origin": "https://app.shlink.io"}
    )
    assert real.headers["access-control-allow-origin"] == "*"
    refused = await surge.client.get(f"{REST}/short-urls", headers={"Origin": "https://x.example"})
    assert refused.headers["access-control-allow-origin"] == "*"  # errors carry it too


def test_cors_origins_can_be_limited(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cors_origins="https://app.example")

    def asked_from(origin: str) -> dict[str, str]:
        app = type("App", (), {"state": type("State", (), {"settings": settings})()})()
        scope = {
            "type": "http",
            "method": "OPTIONS",
            "headers": [(b"origin", origin.encode())],
            "app": app,
        }
        return dict(preflight(Request(scope)).headers)

    assert asked_from("https://app.example")["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in asked_from("https://evil.example")
    assert asked_from("https://evil.example")["vary"] == "Origin"


async def test_older_clients_versions_get_v3_answers(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await make(surge, api_key, "rr")
    v2 = await surge.client.get("/rest/v2/short-urls/rr", headers=api_key)
    assert v2.json()["shortCode"] == "rr"


@pytest.mark.calendar
async def test_visits_date_filters_around_now(
    surge: Surge, key: dict[str, str], now: datetime
) -> None:
    """A visit made now is inside a range from a minute ago to a minute ahead, and outside
    the ranges that end before it or start after it, whatever day, month or year now is."""
    api_key = shlink_key(key)
    await make(surge, api_key, "dated")
    await click(surge, "dated")
    await surge.flush_clicks()
    url = f"{REST}/short-urls/dated/visits"

    async def visits(start: datetime | None, end: datetime | None) -> int:
        params = {}
        if start is not None:
            params["startDate"] = start.isoformat()
        if end is not None:
            params["endDate"] = end.isoformat()
        found = valid(await surge.client.get(url, params=params, headers=api_key), VisitsList)
        return found.visits.pagination.totalItems

    minute = timedelta(minutes=1)
    assert await visits(now - minute, now + minute) == 1
    assert await visits(now - timedelta(days=1), None) == 1
    assert await visits(None, now - minute) == 0
    assert await visits(now + minute, None) == 0
