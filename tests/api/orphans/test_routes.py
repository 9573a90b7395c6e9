"""Orphan visits end to end: the redirect records them, analytics counts them, the API shows
and deletes them (admins only), on both backends."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from surge.platform.clock import utc_now
from tests.conftest import Surge, running_surge
from tests.helpers import BROWSER_UA, GOOGLEBOT, assert_problem, make_settings

ORPHANS = "/api/v1/orphan-visits"
LINKS = "/api/v1/links"
JSON_CLIENT = {"User-Agent": BROWSER_UA, "Accept": "application/json"}


async def admin_key(surge: Surge) -> dict[str, str]:
    assert surge.api.keys is not None
    made = await surge.api.keys.create("admin", is_admin=True)
    return {"Authorization": f"Bearer {made.secret}"}


async def orphan_stats(surge: Surge, key: dict[str, str], **params: str) -> dict[str, Any]:
    await surge.flush_clicks()
    response = await surge.client.get(ORPHANS, headers=key, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def kinds(stats: dict[str, Any]) -> dict[str, int]:
    return {row["value"]: row["clicks"] for row in stats["kinds"]}


async def test_orphan_visits_are_counted_exactly_by_kind_under_concurrent_load(
    surge: Surge,
) -> None:
    key = await admin_key(surge)
    made = await surge.client.post(
        LINKS, json={"url": "https://example.com/a", "slug": "live"}, headers=key
    )
    assert made.status_code == 201
    once = {"url": "https://example.com/b", "slug": "once", "max_clicks": 1}
    assert (await surge.client.post(LINKS, json=once, headers=key)).status_code == 201
    assert (await surge.client.get("/once", headers=JSON_CLIENT)).status_code == 302
    plan = (
        [("GET", "/", 404)] * 60  # the root: a JSON client gets the 404, a base URL visit still
        + [("GET", f"/missing-{i % 7}", 404) for i in range(70)]
        + [("GET", "/once", 410)] * 30  # expired: an invalid short URL, as Shlink counts it
        + [("GET", f"/a/b/{i % 5}", 404) for i in range(50)]
        + [("GET", "/favicon.ico", 404)] * 20
        + [("GET", "/live", 302)] * 80  # clicks, not orphans
        + [("HEAD", "/missing-0", 404)] * 25  # not a visit
        + [("HEAD", "/", 404)] * 25
    )
    gate = asyncio.Semaphore(40)

    async def send(method: str, path: str) -> int:
        async with gate:
            response = await surge.client.request(method, path, headers=JSON_CLIENT)
            return response.status_code

    answers = await asyncio.gather(*(send(m, p) for m, p, _ in plan))
    assert answers == [status for *_, status in plan]
    stats = await orphan_stats(surge, key)
    assert kinds(stats) == {"base_url": 60, "invalid_short_url": 100, "regular_404": 70}
    assert stats["total"] == 230
    assert stats["bot_clicks"] == 0
    assert sum(p["clicks"] for p in stats["timeseries"]) == 230
    paths = {row["value"]: row["clicks"] for row in stats["paths"]}
    assert paths["/once"] == 30
    assert paths["/favicon.ico"] == 20
    assert paths["/missing-0"] == 10
    assert paths["/"] == 60
    assert (await surge.stats("live", key))["total"] == 80
    page = await surge.client.get(
        f"{ORPHANS}/visits", headers=key, params={"kind": "regular_404", "limit": 5}
    )
    assert page.status_code == 200
    assert page.json()["total"] == 70
    assert {v["kind"] for v in page.json()["items"]} == {"regular_404"}
    assert len(page.json()["items"]) == 5


async def test_bots_are_flagged_and_kept_out_of_totals(surge: Surge) -> None:
    key = await admin_key(surge)
    for agent in (BROWSER_UA, GOOGLEBOT, GOOGLEBOT):
        await surge.client.get("/nothing-here", headers={"User-Agent": agent})
    stats = await orphan_stats(surge, key)
    assert (stats["total"], stats["bot_clicks"]) == (1, 2)
    humans = await surge.client.get(
        f"{ORPHANS}/visits", headers=key, params={"exclude_bots": "true"}
    )
    assert humans.json()["total"] == 1
    every = (await surge.client.get(f"{ORPHANS}/visits", headers=key)).json()
    assert sorted(v["is_bot"] for v in every["items"]) == [False, True, True]


async def test_a_domains_own_redirects_are_orphan_visits_of_that_domain(surge: Surge) -> None:
    key = await admin_key(surge)
    domain = {
        "host": "go.example.com",
        "root_url": "https://example.com/",
        "not_found_url": "https://example.com/404",
    }
    assert (await surge.client.post("/api/v1/domains", json=domain, headers=key)).status_code == 201
    other = {"Host": "go.example.com", "User-Agent": BROWSER_UA}
    assert (await surge.client.get("/", headers=other)).status_code == 302
    assert (await surge.client.get("/gone", headers=other)).status_code == 302
    assert (await surge.client.get("/gone", headers=JSON_CLIENT)).status_code == 404
    stats = await orphan_stats(surge, key, domain="go.example.com")
    assert kinds(stats) == {"base_url": 1, "invalid_short_url": 1}
    assert {row["value"] for row in stats["paths"]} == {"go.example.com/", "go.example.com/gone"}
    default = await orphan_stats(surge, key, domain="default")
    assert kinds(default) == {"invalid_short_url": 1}
    assert (await orphan_stats(surge, key))["total"] == 3
    page = (
        await surge.client.get(
            f"{ORPHANS}/visits", headers=key, params={"domain": "go.example.com"}
        )
    ).json()
    assert {(v["domain"], v["path"]) for v in page["items"]} == {
        ("go.example.com", "/"),
        ("go.example.com", "/gone"),
    }
    unknown = await surge.client.get(ORPHANS, headers=key, params={"domain": "nope.example"})
    assert_problem(unknown, 422, "validation-error")


async def test_deleting_orphan_visits_forgets_them_and_counts_what_comes_after(
    surge: Surge,
) -> None:
    key = await admin_key(surge)
    for path in ("/x1", "/x2", "/", "/x/y"):
        await surge.client.get(path, headers=JSON_CLIENT)
    await surge.flush_clicks()
    deleted = await surge.client.delete(ORPHANS, headers=key)
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted_visits": 4}
    stats = await orphan_stats(surge, key)
    assert (stats["total"], stats["paths"], stats["kinds"]) == (0, [], [])
    assert (await surge.client.get(f"{ORPHANS}/visits", headers=key)).json()["total"] == 0
    await surge.client.get("/after", headers=JSON_CLIENT)
    assert kinds(await orphan_stats(surge, key)) == {"invalid_short_url": 1}


async def test_orphan_visits_are_for_admins_only(surge: Surge, key: dict[str, str]) -> None:
    for method, path in (("GET", ORPHANS), ("GET", f"{ORPHANS}/visits"), ("DELETE", ORPHANS)):
        assert_problem(await surge.client.request(method, path, headers=key), 403, "forbidden")
        assert_problem(await surge.client.request(method, path), 401, "unauthorized")


async def test_the_per_ip_limit_of_redirects_bounds_orphan_visits(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, **backend, rate_limit_redirects_per_ip="4/minute")
    async with running_surge(settings) as surge:
        key = await admin_key(surge)
        one = {**JSON_CLIENT, "x-test-client-ip": "198.51.100.4"}
        answers = [
            (await surge.client.get(path, headers=one)).status_code
            for path in ("/", "/a/b", "/nope", "/c.txt", "/", "/a/b", "/nope")
        ]
        assert answers == [404, 404, 404, 404, 429, 429, 429]
        other = {**JSON_CLIENT, "x-test-client-ip": "198.51.100.5"}
        assert (await surge.client.get("/a/b", headers=other)).status_code == 404
        stats = await orphan_stats(surge, key)
        assert stats["total"] == 5  # a refused request is no visit


@pytest.mark.parametrize(
    ("switch", "field", "shown"),
    [
        ("record_referrer", "referrer_host", "(not recorded)"),
        ("record_user_agent", "browser", "(not recorded)"),
        ("record_location", "country", None),
    ],
)
async def test_the_privacy_switches_apply_to_orphan_visits(
    tmp_path: Path, switch: str, field: str, shown: str | None
) -> None:
    async with running_surge(make_settings(tmp_path, **{switch: False})) as surge:
        key = await admin_key(surge)
        headers = {
            "User-Agent": BROWSER_UA,
            "Referer": "https://news.example.org/post",
            "cf-ipcountry": "FR",
        }
        await surge.client.get("/printed-typo", headers=headers)
        await surge.flush_clicks()
        visit = (await surge.client.get(f"{ORPHANS}/visits", headers=key)).json()["items"][0]
        assert visit[field] == shown
        kept = {"referrer_host": "news.example.org", "browser": "Chrome", "country": "FR"}
        for other, value in kept.items():
            if other != field:
                assert visit[other] == value


async def test_deleting_orphan_visits_while_they_keep_arriving_leaves_exact_counts(
    surge: Surge,
) -> None:
    key = await admin_key(surge)
    for i in range(30):
        await surge.client.get(f"/before-{i % 3}", headers=JSON_CLIENT)
    assert (await orphan_stats(surge, key))["total"] == 30

    sent: list[tuple[datetime, datetime]] = []  # each request's start and end
    stop = asyncio.Event()

    async def keep_visiting() -> None:
        while not stop.is_set():
            started = utc_now()
            await surge.client.get("/during", headers=JSON_CLIENT)
            sent.append((started, utc_now()))
            await asyncio.sleep(0)

    visiting = asyncio.create_task(keep_visiting())
    await asyncio.sleep(0.05)
    asked = utc_now()
    deletion = await surge.client.delete(ORPHANS, headers=key)
    answered = utc_now()
    await asyncio.sleep(0.05)
    stop.set()
    await visiting
    assert deletion.status_code == 200, deletion.text
    assert deletion.json()["deleted_visits"] >= 30

    since = {"from": (asked - timedelta(days=1)).isoformat()}
    stats = await orphan_stats(surge, key, **since)
    # A request that started after the deletion answered counts; one that overlapped it may
    # fall on either side of the cut-off; the rest were deleted.
    surely_after = sum(1 for started, _ in sent if started > answered)
    maybe = sum(1 for started, ended in sent if started <= answered and ended >= asked)
    assert surely_after <= stats["total"] <= surely_after + maybe
    assert {row["value"] for row in stats["paths"]} <= {"/during"}
    # The rollup and the raw visits agree exactly.
    page = await surge.client.get(f"{ORPHANS}/visits", headers=key, params={"limit": 1000})
    assert page.json()["total"] == stats["total"]


@pytest.mark.parametrize("header", ["Sec-GPC", "DNT"])
async def test_a_visitor_who_asks_not_to_be_tracked_is_counted_as_no_one(
    surge: Surge, header: str
) -> None:
    key = await admin_key(surge)
    private = {**JSON_CLIENT, "Referer": "https://news.example.org/", "cf-ipcountry": "FR"}
    await surge.client.get("/typo", headers={**private, header: "1"})
    await surge.client.get("/typo", headers={"User-Agent": GOOGLEBOT, header: "1"})
    stats = await orphan_stats(surge, key)
    assert (stats["total"], stats["bot_clicks"], stats["unique_visitors"]) == (1, 1, 0)
    visits = (await surge.client.get(f"{ORPHANS}/visits", headers=key)).json()["items"]
    human = next(v for v in visits if not v["is_bot"])
    assert (human["referrer_host"], human["country"], human["browser"]) == (
        "(not recorded)",
        None,
        "(not recorded)",
    )


async def test_orphan_visitors_are_told_apart_by_address_and_agent(surge: Surge) -> None:
    """The redirect sends no visitor id; ingest makes it, for orphan visits as for clicks."""
    key = await admin_key(surge)
    for ip in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        await surge.client.get("/typo", headers={**JSON_CLIENT, "x-test-client-ip": ip})
    stats = await orphan_stats(surge, key)
    assert (stats["total"], stats["unique_visitors"]) == (3, 2)
