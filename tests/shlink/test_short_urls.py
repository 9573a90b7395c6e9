"""Shlink's short URL endpoints against Surge: each answer valid against Shlink's definitions,
Shlink's error types, pagination arithmetic, and round trips with /api/v1."""

from __future__ import annotations

import pytest

from surge.shlink.schemas import ShortUrl, ShortUrlsList
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, GOOGLEBOT, LINKS, future
from tests.shlink.contract import REST, shlink_key, shlink_problem, valid

SHORT_URLS = f"{REST}/short-urls"


async def test_a_short_url_made_through_shlink_is_a_surge_link_and_back(
    surge: Surge, key: dict[str, str]
) -> None:
    api_key = shlink_key(key)
    body = {
        "longUrl": "https://example.com/launch",
        "customSlug": "launch",
        "tags": ["news", "demo"],
        "validUntil": "2031-01-01T00:00:00+00:00",
        "maxVisits": 50,
        "title": "Launch day",
        "crawlable": True,
        "forwardQuery": False,
        "validSince": "2020-01-01T00:00:00+00:00",
    }
    created = valid(await surge.client.post(SHORT_URLS, json=body, headers=api_key), ShortUrl)
    assert created.shortCode == "launch"
    assert created.shortUrl == "http://sho.rt/launch"
    assert created.tags == ["demo", "news"]
    assert created.meta.maxVisits == 50
    assert created.meta.validUntil is not None
    assert created.meta.validUntil.year == 2031
    assert (created.title, created.crawlable, created.forwardQuery) == ("Launch day", True, False)
    assert created.meta.validSince is not None
    assert created.meta.validSince.year == 2020
    surge_side = (await surge.client.get(f"{LINKS}/launch", headers=key)).json()
    assert surge_side["title"] == "Launch day"
    assert (surge_side["crawlable"], surge_side["forward_query"]) == (True, False)
    assert surge_side["url"] == "https://example.com/launch"
    assert surge_side["max_clicks"] == 50

    made = await surge.client.post(
        LINKS, json={"url": "https://example.com/other", "slug": "other"}, headers=key
    )
    assert made.status_code == 201
    fetched = valid(await surge.client.get(f"{SHORT_URLS}/other", headers=api_key), ShortUrl)
    assert fetched.longUrl == "https://example.com/other"


async def test_visits_summary_counts_humans_and_bots(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await surge.client.post(
        SHORT_URLS, json={"longUrl": "https://example.com/", "customSlug": "v"}, headers=api_key
    )
    for agent in (BROWSER_UA, BROWSER_UA, GOOGLEBOT):
        assert (await surge.client.get("/v", headers={"User-Agent": agent})).status_code == 302
    await surge.flush_clicks()
    got = valid(await surge.client.get(f"{SHORT_URLS}/v", headers=api_key), ShortUrl)
    assert got.visitsSummary.model_dump() == {"total": 3, "nonBots": 2, "bots": 1}
    assert got.visitsCount == 3


async def test_edit_changes_only_what_is_sent_and_null_clears(
    surge: Surge, key: dict[str, str]
) -> None:
    api_key = shlink_key(key)
    body = {"longUrl": "https://example.com/", "customSlug": "e", "maxVisits": 3, "tags": ["a"]}
    await surge.client.post(SHORT_URLS, json=body, headers=api_key)
    edited = valid(
        await surge.client.patch(
            f"{SHORT_URLS}/e",
            json={"longUrl": "https://example.org/", "maxVisits": None, "validUntil": future()},
            headers=api_key,
        ),
        ShortUrl,
    )
    assert edited.longUrl == "https://example.org/"
    assert edited.meta.maxVisits is None
    assert edited.meta.validUntil is not None
    assert edited.tags == ["a"]
    assert (await surge.client.get("/e")).headers["location"] == "https://example.org/"


async def test_delete_then_not_found(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    await surge.client.post(
        SHORT_URLS, json={"longUrl": "https://example.com/", "customSlug": "d"}, headers=api_key
    )
    assert (await surge.client.delete(f"{SHORT_URLS}/d", headers=api_key)).status_code == 204
    problem = shlink_problem(
        await surge.client.get(f"{SHORT_URLS}/d", headers=api_key), 404, "short-url-not-found"
    )
    assert problem["shortCode"] == "d"
    assert (await surge.client.get("/d")).status_code == 404
    missing = await surge.client.delete(f"{SHORT_URLS}/d", headers=api_key)
    shlink_problem(missing, 404, "short-url-not-found")


async def test_errors_are_shlinks_problem_types(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    client = surge.client
    shlink_problem(await client.get(SHORT_URLS), 401, "missing-authentication")
    shlink_problem(
        await client.get(SHORT_URLS, headers={"X-Api-Key": "sk_nope"}), 401, "invalid-api-key"
    )
    bad = await client.post(SHORT_URLS, json={"longUrl": "ftp://example.com"}, headers=api_key)
    assert shlink_problem(bad, 400, "invalid-data")["invalidElements"] == ["longUrl"]
    bad = await client.post(
        SHORT_URLS,
        json={"longUrl": "https://example.com/", "validUntil": "tomorrow", "maxVisits": 0},
        headers=api_key,
    )
    assert shlink_problem(bad, 400, "invalid-data")["invalidElements"] == [
        "maxVisits",
        "validUntil",
    ]
    own_domain = await client.post(SHORT_URLS, json={"longUrl": "http://sho.rt/x"}, headers=api_key)
    assert shlink_problem(own_domain, 400, "invalid-data")["invalidElements"] == ["longUrl"]
    later = {"longUrl": "https://example.com/", "validSince": "next week"}
    bad = await client.post(SHORT_URLS, json=later, headers=api_key)
    assert shlink_problem(bad, 400, "invalid-data")["invalidElements"] == ["validSince"]
    later = {"longUrl": "https://example.com/", "customSlug": "later", "validSince": future()}
    assert (await client.post(SHORT_URLS, json=later, headers=api_key)).status_code == 200
    assert (await client.get("/later")).status_code == 404  # not valid yet
    first = {"longUrl": "https://example.com/", "customSlug": "dup"}
    assert (await client.post(SHORT_URLS, json=first, headers=api_key)).status_code == 200
    taken = shlink_problem(
        await client.post(SHORT_URLS, json=first, headers=api_key), 400, "non-unique-slug"
    )
    assert taken["customSlug"] == "dup"
    shlink_problem(await client.get(f"{REST}/no-such-thing", headers=api_key), 404, "not-found")


async def test_another_keys_short_url_is_not_found(surge: Surge, key: dict[str, str]) -> None:
    await surge.client.post(
        SHORT_URLS,
        json={"longUrl": "https://example.com/", "customSlug": "mine"},
        headers=shlink_key(key),
    )
    other = shlink_key(await surge.new_key("other"))
    shlink_problem(
        await surge.client.get(f"{SHORT_URLS}/mine", headers=other), 404, "short-url-not-found"
    )
    listed = valid(await surge.client.get(SHORT_URLS, headers=other), ShortUrlsList)
    assert listed.shortUrls.data == []


async def test_find_if_exists_returns_the_same_link(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    body = {"longUrl": "https://example.com/same", "tags": ["x"], "findIfExists": True}
    first = valid(await surge.client.post(SHORT_URLS, json=body, headers=api_key), ShortUrl)
    again = valid(await surge.client.post(SHORT_URLS, json=body, headers=api_key), ShortUrl)
    assert again.shortCode == first.shortCode
    other_tags = {**body, "tags": ["y"]}
    third = valid(await surge.client.post(SHORT_URLS, json=other_tags, headers=api_key), ShortUrl)
    assert third.shortCode != first.shortCode


async def test_a_generated_short_code_has_the_length_asked_for(
    surge: Surge, key: dict[str, str]
) -> None:
    api_key = shlink_key(key)

    async def created(**body: object) -> ShortUrl:
        sent = {"longUrl": "https://example.com/len", **body}
        return valid(await surge.client.post(SHORT_URLS, json=sent, headers=api_key), ShortUrl)

    for length in (4, 12, 64):  # Shlink's least; any; the longest a Surge slug may be
        code = (await created(shortCodeLength=length)).shortCode
        assert len(code) == length
        assert (await surge.client.get(f"/{code}")).status_code == 302
    assert len((await created()).shortCode) == 7  # Surge's own length when none is asked for
    # A custom slug is taken as it is, as Shlink does.
    assert (await created(customSlug="mine", shortCodeLength=10)).shortCode == "mine"
    for length in (3, 65):
        sent = {"longUrl": "https://example.com/len", "shortCodeLength": length}
        refused = await surge.client.post(SHORT_URLS, json=sent, headers=api_key)
        assert shlink_problem(refused, 400, "invalid-data")["invalidElements"] == [
            "shortCodeLength"
        ]


async def test_shorten_takes_the_key_in_the_query(surge: Surge, key: dict[str, str]) -> None:
    secret = shlink_key(key)["X-Api-Key"]
    params = {"apiKey": secret, "longUrl": "https://example.com/q", "format": "txt"}
    text = await surge.client.get(f"{SHORT_URLS}/shorten", params=params)
    assert text.status_code == 200
    assert text.text.startswith("http://sho.rt/")
    no_key = await surge.client.get(
        f"{SHORT_URLS}/shorten", params={"longUrl": "https://example.com/q"}
    )
    shlink_problem(no_key, 401, "missing-authentication")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_pagination_filters_and_order(surge: Surge, key: dict[str, str]) -> None:
    api_key = shlink_key(key)
    for i in range(7):
        body = {
            "longUrl": f"https://example.com/{i}",
            "customSlug": f"p{i}",
            "tags": ["even" if i % 2 == 0 else "odd", "all"],
        }
        if i == 6:
            body["validUntil"] = "2001-01-01T00:00:00Z"  # already expired
        assert (await surge.client.post(SHORT_URLS, json=body, headers=api_key)).status_code == 200

    async def listed(**params: object) -> ShortUrlsList:
        response = await surge.client.get(SHORT_URLS, params=params, headers=api_key)  # type: ignore[arg-type]
        return valid(response, ShortUrlsList)

    page = await listed(page=2, itemsPerPage=3)
    assert [s.shortCode for s in page.shortUrls.data] == ["p3", "p2", "p1"]  # newest first
    assert page.shortUrls.pagination.model_dump() == {
        "currentPage": 2,
        "pagesCount": 3,
        "itemsPerPage": 3,
        "itemsInCurrentPage": 3,
        "totalItems": 7,
    }
    assert (await listed(page=3, itemsPerPage=3)).shortUrls.pagination.itemsInCurrentPage == 1
    default = await listed()
    assert default.shortUrls.pagination.itemsPerPage == 10
    assert len(default.shortUrls.data) == 7
    odd = await listed(**{"tags[]": "odd"})
    assert {s.shortCode for s in odd.shortUrls.data} == {"p1", "p3", "p5"}
    both = await listed(**{"tags[]": ["odd", "even"], "tagsMode": "all"})
    assert both.shortUrls.data == []
    assert len((await listed(**{"tags[]": ["odd", "even"]})).shortUrls.data) == 7
    search = await listed(searchTerm="example.com/4")
    assert [s.shortCode for s in search.shortUrls.data] == ["p4"]
    ordered = await listed(orderBy="shortCode-ASC")
    assert [s.shortCode for s in ordered.shortUrls.data][:2] == ["p0", "p1"]
    live = await listed(excludePastValidUntil="true")
    assert "p6" not in {s.shortCode for s in live.shortUrls.data}
    assert len(live.shortUrls.data) == 6
    # Visits order: p2 clicked twice, p5 once.
    for slug in ("p2", "p2", "p5"):
        await surge.client.get(f"/{slug}", headers={"User-Agent": BROWSER_UA})
    await surge.flush_clicks()
    by_visits = await listed(orderBy="visits-DESC", itemsPerPage=2)
    assert [s.shortCode for s in by_visits.shortUrls.data] == ["p2", "p5"]
    await surge.client.patch(f"{SHORT_URLS}/p5", json={"maxVisits": 1}, headers=api_key)
    under_limit = await listed(excludeMaxVisitsReached="true")
    assert "p5" not in {s.shortCode for s in under_limit.shortUrls.data}
    bad = await surge.client.get(SHORT_URLS, params={"orderBy": "nope"}, headers=api_key)
    assert shlink_problem(bad, 400, "invalid-data")["invalidElements"] == ["orderBy"]
