"""The links API end to end: create, read, list, update, delete, ownership, and the redirect."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from surge.links import slugs, writes
from tests.conftest import Surge
from tests.helpers import assert_problem

LINKS = "/api/v1/links"
BASE62_SLUG = re.compile(r"[0-9A-Za-z]{7}")


async def create(surge: Surge, key: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("url", "https://example.com/")
    response = await surge.client.post(LINKS, json=body, headers=key)
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


async def get(surge: Surge, key: dict[str, str], slug: str) -> dict[str, Any]:
    response = await surge.client.get(f"{LINKS}/{slug}", headers=key)
    assert response.status_code == 200, response.text
    link: dict[str, Any] = response.json()
    return link


async def patch(surge: Surge, key: dict[str, str], slug: str, **body: Any) -> dict[str, Any]:
    response = await surge.client.patch(f"{LINKS}/{slug}", json=body, headers=key)
    assert response.status_code == 200, response.text
    link: dict[str, Any] = response.json()
    return link


async def slugs_listed(surge: Surge, key: dict[str, str], **params: Any) -> list[str]:
    response = await surge.client.get(LINKS, params={"limit": 200, **params}, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [item["slug"] for item in response.json()["items"]]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- create and read ---------------------------------------------------------------------------


async def test_create_round_trips_every_field(surge: Surge, key: dict[str, str]) -> None:
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    before = datetime.now(UTC)
    created = await create(
        surge,
        key,
        url="https://example.com/spring?utm_source=x",
        slug="spring-sale",
        redirect_type=307,
        # sent with a +02:00 offset, answered in UTC
        expires_at=expires.astimezone(timezone(timedelta(hours=2))).isoformat(),
        max_clicks=100,
        tags=["promo", "eu", "promo"],
        forward_query=False,
        password="open sesame",
        title="Spring sale",
        valid_since="2020-01-01T01:00:00+01:00",
        crawlable=True,
    )
    assert created["slug"] == "spring-sale"
    assert created["short_url"] == "http://sho.rt/spring-sale"
    assert created["url"] == "https://example.com/spring?utm_source=x"
    assert created["redirect_type"] == 307
    assert created["expires_at"].endswith("Z")
    assert when(created["expires_at"]) == expires
    assert created["max_clicks"] == 100
    assert created["tags"] == ["eu", "promo"]  # unique, sorted
    assert before <= when(created["created_at"]) <= datetime.now(UTC)
    assert created["updated_at"] == created["created_at"]
    assert created["domain"] == "sho.rt"  # the default domain
    assert created["forward_query"] is False
    assert created["password_protected"] is True  # the password itself is never read back
    assert created["title"] == "Spring sale"
    assert created["valid_since"] == "2020-01-01T00:00:00Z"
    assert created["crawlable"] is True
    assert set(created) == {
        "slug",
        "domain",
        "short_url",
        "url",
        "redirect_type",
        "expires_at",
        "max_clicks",
        "tags",
        "rules",
        "forward_query",
        "password_protected",
        "title",
        "valid_since",
        "crawlable",
        "created_at",
        "updated_at",
    }
    assert await get(surge, key, "spring-sale") == created


async def test_create_defaults(surge: Surge, key: dict[str, str]) -> None:
    created = await create(surge, key, url="https://example.com/d")
    assert created["redirect_type"] == 302
    assert created["expires_at"] is None
    assert created["max_clicks"] is None
    assert created["tags"] == []
    assert created["forward_query"] is True  # as Shlink
    assert created["password_protected"] is False
    assert created["title"] is None
    assert created["valid_since"] is None
    assert created["crawlable"] is False


async def test_create_answers_201_with_json(surge: Surge, key: dict[str, str]) -> None:
    response = await surge.client.post(LINKS, json={"url": "https://example.com/"}, headers=key)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"


async def test_random_slugs_are_7_base62_chars_and_distinct(
    surge: Surge, key: dict[str, str]
) -> None:
    made = [(await create(surge, key, url=f"https://example.com/{i}"))["slug"] for i in range(20)]
    assert all(BASE62_SLUG.fullmatch(slug) for slug in made), made
    assert len(set(made)) == len(made)
    for slug in made[:3]:
        assert (await surge.client.head(f"/{slug}")).status_code == 302


async def test_random_slug_never_spells_a_reserved_name(monkeypatch: pytest.MonkeyPatch) -> None:
    letters = itertools.chain("MeTrIcS", "healthz", "abc1234")
    fake = SimpleNamespace(choice=lambda _alphabet: next(letters))
    monkeypatch.setattr(slugs, "secrets", fake)
    assert slugs.random_slug() == "abc1234"


async def test_random_slug_retries_a_collision(
    surge: Surge, key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await create(surge, key, slug="Taken12")
    candidates = iter(["Taken12", "Fresh34"])
    monkeypatch.setattr(writes, "random_slug", lambda length: next(candidates))
    created = await create(surge, key, url="https://example.com/second")
    assert created["slug"] == "Fresh34"
    assert (await get(surge, key, "Taken12"))["url"] == "https://example.com/"


async def test_get_unknown_link_is_404(surge: Surge, key: dict[str, str]) -> None:
    response = await surge.client.get(f"{LINKS}/nope", headers=key)
    assert_problem(response, 404, "not-found")


# --- list --------------------------------------------------------------------------------------


async def test_list_walks_pages_newest_first(surge: Surge, key: dict[str, str]) -> None:
    made = [(await create(surge, key, slug=f"page-{i}"))["slug"] for i in range(5)]
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await surge.client.get(LINKS, params=params, headers=key)
        assert response.status_code == 200, response.text
        page = response.json()
        sizes.append(len(page["items"]))
        seen += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(sizes) < 10, "pagination does not end"
    assert sizes == [2, 2, 1]
    assert seen == list(reversed(made))


async def test_list_page_of_exactly_limit_has_no_next_cursor(
    surge: Surge, key: dict[str, str]
) -> None:
    for i in range(2):
        await create(surge, key, slug=f"only-{i}")
    response = await surge.client.get(LINKS, params={"limit": 2}, headers=key)
    assert [item["slug"] for item in response.json()["items"]] == ["only-1", "only-0"]
    assert response.json()["next_cursor"] is None


async def test_list_empty(surge: Surge, key: dict[str, str]) -> None:
    response = await surge.client.get(LINKS, headers=key)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_cursor_survives_deletion_of_its_link(surge: Surge, key: dict[str, str]) -> None:
    for i in range(4):
        await create(surge, key, slug=f"del-{i}")
    first = (await surge.client.get(LINKS, params={"limit": 2}, headers=key)).json()
    assert [item["slug"] for item in first["items"]] == ["del-3", "del-2"]
    assert (await surge.client.delete(f"{LINKS}/del-2", headers=key)).status_code == 204
    rest = await surge.client.get(
        LINKS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=key
    )
    assert [item["slug"] for item in rest.json()["items"]] == ["del-1", "del-0"]


async def test_list_filters_by_tag(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="a", tags=["blue", "red"])
    await create(surge, key, slug="b", tags=["blue"])
    await create(surge, key, slug="c", tags=["green"])
    await create(surge, key, slug="d")
    assert await slugs_listed(surge, key, tag="blue") == ["b", "a"]
    assert await slugs_listed(surge, key, tag="green") == ["c"]
    assert await slugs_listed(surge, key, tag="Blue") == []  # tags are exact
    assert await slugs_listed(surge, key, tag="none") == []


async def test_tag_filter_pages(surge: Surge, key: dict[str, str]) -> None:
    for i in range(5):
        await create(surge, key, slug=f"t{i}", tags=["x"] if i % 2 == 0 else [])
    first = (await surge.client.get(LINKS, params={"tag": "x", "limit": 2}, headers=key)).json()
    assert [item["slug"] for item in first["items"]] == ["t4", "t2"]
    params = {"tag": "x", "limit": 2, "cursor": first["next_cursor"]}
    second = (await surge.client.get(LINKS, params=params, headers=key)).json()
    assert [item["slug"] for item in second["items"]] == ["t0"]
    assert second["next_cursor"] is None


async def test_list_searches_slug_and_url(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="summer", url="https://shop.example/beach")
    await create(surge, key, slug="winter", url="https://shop.example/SUMMER-archive")
    await create(surge, key, slug="autumn", url="https://blog.example/leaves")
    assert await slugs_listed(surge, key, q="summer") == ["winter", "summer"]
    assert await slugs_listed(surge, key, q="SUM") == ["winter", "summer"]  # case-insensitive
    assert await slugs_listed(surge, key, q="blog.example") == ["autumn"]
    assert await slugs_listed(surge, key, q="leaves") == ["autumn"]
    assert await slugs_listed(surge, key, q="nothing-like-it") == []
    assert await slugs_listed(surge, key, q="") == ["autumn", "winter", "summer"]


async def test_search_treats_like_wildcards_literally(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="snake_case", url="https://example.com/a")
    await create(surge, key, slug="snakeXcase", url="https://example.com/b")
    await create(surge, key, slug="pct", url="https://example.com/50%25off")
    await create(surge, key, slug="nopct", url="https://example.com/5025off")
    await create(surge, key, slug="backslash", url="https://example.com/a%5Cb")
    assert await slugs_listed(surge, key, q="_") == ["snake_case"]
    assert await slugs_listed(surge, key, q="snake_") == ["snake_case"]
    assert await slugs_listed(surge, key, q="%") == ["backslash", "pct"]
    assert await slugs_listed(surge, key, q="50%25") == ["pct"]
    assert await slugs_listed(surge, key, q="%25off") == ["pct"]
    assert await slugs_listed(surge, key, q="\\") == []


async def test_search_and_tag_combine(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="docs-a", tags=["docs"])
    await create(surge, key, slug="docs-b")
    await create(surge, key, slug="blog-a", tags=["docs"])
    assert await slugs_listed(surge, key, q="docs", tag="docs") == ["docs-a"]


# --- update ------------------------------------------------------------------------------------


async def test_patch_url_takes_effect_on_the_next_redirect(
    surge: Surge, key: dict[str, str]
) -> None:
    await create(surge, key, slug="moving", url="https://old.example/")
    first = await surge.client.get("/moving")  # now cached by the redirect tier
    assert first.status_code == 302
    assert first.headers["location"] == "https://old.example/"
    updated = await patch(surge, key, "moving", url="https://new.example/")
    assert updated["url"] == "https://new.example/"
    second = await surge.client.get("/moving")
    assert second.status_code == 302
    assert second.headers["location"] == "https://new.example/"


async def test_patch_redirect_type_takes_effect_on_the_next_redirect(
    surge: Surge, key: dict[str, str]
) -> None:
    await create(surge, key, slug="kind", url="https://example.com/k")
    assert (await surge.client.head("/kind")).status_code == 302
    assert (await patch(surge, key, "kind", redirect_type=308))["redirect_type"] == 308
    assert (await surge.client.head("/kind")).status_code == 308


async def test_creating_a_slug_clears_a_cached_not_found(surge: Surge, key: dict[str, str]) -> None:
    assert (await surge.client.head("/later")).status_code == 404  # negatively cached
    await create(surge, key, slug="later", url="https://example.com/later")
    followed = await surge.client.head("/later")
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://example.com/later"


async def test_patch_changes_only_the_fields_sent(surge: Surge, key: dict[str, str]) -> None:
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await create(
        surge,
        key,
        slug="partial",
        redirect_type=301,
        expires_at=expires,
        max_clicks=9,
        tags=["keep"],
    )
    updated = await patch(surge, key, "partial", url="https://example.com/changed")
    assert updated["url"] == "https://example.com/changed"
    for field in ("slug", "short_url", "redirect_type", "expires_at", "max_clicks", "tags"):
        assert updated[field] == created[field], field
    assert updated["created_at"] == created["created_at"]
    assert when(updated["updated_at"]) > when(created["updated_at"])
    assert await get(surge, key, "partial") == updated


async def test_patch_tags_replaces_them(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="tagged", tags=["a", "b"])
    assert (await patch(surge, key, "tagged", tags=["c", "b", "c"]))["tags"] == ["b", "c"]
    assert (await get(surge, key, "tagged"))["tags"] == ["b", "c"]
    assert await slugs_listed(surge, key, tag="a") == []
    assert await slugs_listed(surge, key, tag="c") == ["tagged"]
    assert (await patch(surge, key, "tagged", max_clicks=3))["tags"] == ["b", "c"]
    assert (await patch(surge, key, "tagged", tags=[]))["tags"] == []
    assert await slugs_listed(surge, key, tag="b") == []


async def test_patch_null_clears_expiry_and_click_limit(surge: Surge, key: dict[str, str]) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    await create(surge, key, slug="limited", expires_at=expires, max_clicks=5)
    cleared = await patch(surge, key, "limited", expires_at=None)
    assert cleared["expires_at"] is None
    assert cleared["max_clicks"] == 5
    cleared = await patch(surge, key, "limited", max_clicks=None)
    assert cleared["max_clicks"] is None
    assert await get(surge, key, "limited") == cleared


async def test_patch_sets_a_new_expiry(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="expiring")
    expires = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    updated = await patch(surge, key, "expiring", expires_at=expires.isoformat())
    assert when(updated["expires_at"]) == expires


async def test_empty_patch_is_a_no_op(surge: Surge, key: dict[str, str]) -> None:
    created = await create(surge, key, slug="same", tags=["t"])
    assert await patch(surge, key, "same") == created


async def test_patch_unknown_link_is_404(surge: Surge, key: dict[str, str]) -> None:
    response = await surge.client.patch(
        f"{LINKS}/nope", json={"url": "https://example.com/"}, headers=key
    )
    assert_problem(response, 404, "not-found")
    assert (await surge.client.get(LINKS, headers=key)).json()["items"] == []


# --- delete ------------------------------------------------------------------------------------


async def test_delete(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="doomed", tags=["gone"])
    await create(surge, key, slug="survivor")
    assert (await surge.client.get("/doomed")).status_code == 302  # now cached
    response = await surge.client.delete(f"{LINKS}/doomed", headers=key)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await surge.client.get(f"{LINKS}/doomed", headers=key), 404, "not-found")
    followed = await surge.client.get("/doomed")
    assert followed.status_code == 404
    assert "location" not in followed.headers
    assert await slugs_listed(surge, key) == ["survivor"]
    assert await slugs_listed(surge, key, tag="gone") == []
    again = await surge.client.delete(f"{LINKS}/doomed", headers=key)
    assert_problem(again, 404, "not-found")


async def test_deleted_slug_can_be_taken_again(surge: Surge, key: dict[str, str]) -> None:
    await create(surge, key, slug="reuse", url="https://first.example/")
    assert (await surge.client.head("/reuse")).headers["location"] == "https://first.example/"
    assert (await surge.client.delete(f"{LINKS}/reuse", headers=key)).status_code == 204
    other = await surge.new_key("other")
    await create(surge, other, slug="reuse", url="https://second.example/")
    assert (await surge.client.head("/reuse")).headers["location"] == "https://second.example/"
    assert (await get(surge, other, "reuse"))["tags"] == []


# --- ownership ---------------------------------------------------------------------------------


async def test_another_key_cannot_see_or_touch_a_link(surge: Surge, key: dict[str, str]) -> None:
    mine = await create(surge, key, slug="mine", url="https://a.example/", tags=["private"])
    intruder = await surge.new_key("intruder")

    assert_problem(await surge.client.get(f"{LINKS}/mine", headers=intruder), 404, "not-found")
    patched = await surge.client.patch(
        f"{LINKS}/mine",
        json={"url": "https://evil.example/", "tags": ["pwned"]},
        headers=intruder,
    )
    assert_problem(patched, 404, "not-found")
    assert_problem(await surge.client.delete(f"{LINKS}/mine", headers=intruder), 404, "not-found")
    stats = await surge.client.get(f"{LINKS}/mine/stats", headers=intruder)
    assert_problem(stats, 404, "not-found")
    assert await slugs_listed(surge, intruder) == []
    assert await slugs_listed(surge, intruder, q="mine") == []
    assert await slugs_listed(surge, intruder, tag="private") == []

    assert await get(surge, key, "mine") == mine
    assert await slugs_listed(surge, key) == ["mine"]
    followed = await surge.client.head("/mine")
    assert followed.headers["location"] == "https://a.example/"
    assert (await surge.stats("mine", key))["total"] == 0


async def test_each_key_lists_only_its_own_links(surge: Surge, key: dict[str, str]) -> None:
    other = await surge.new_key("other")
    for i in range(3):
        await create(surge, key, slug=f"a{i}", tags=["shared"])
        await create(surge, other, slug=f"b{i}", tags=["shared"])
    assert await slugs_listed(surge, key) == ["a2", "a1", "a0"]
    assert await slugs_listed(surge, other, tag="shared") == ["b2", "b1", "b0"]
    # A cursor from one key's listing does not reveal the other's links.
    first = (await surge.client.get(LINKS, params={"limit": 1}, headers=key)).json()
    rest = await surge.client.get(LINKS, params={"cursor": first["next_cursor"]}, headers=other)
    assert [item["slug"] for item in rest.json()["items"]] == ["b1", "b0"]


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 307, 308])
async def test_redirect_uses_the_links_redirect_type(
    surge: Surge, key: dict[str, str], code: int
) -> None:
    await create(surge, key, slug=f"r{code}", url=f"https://example.com/{code}", redirect_type=code)
    followed = await surge.client.get(f"/r{code}")
    assert followed.status_code == code
    assert followed.headers["location"] == f"https://example.com/{code}"


# --- docs --------------------------------------------------------------------------------------


async def test_openapi_lists_the_links_api(surge: Surge) -> None:
    response = await surge.client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/v1/links"]) >= {"get", "post"}
    assert set(paths["/api/v1/links/{slug}"]) >= {"get", "patch", "delete"}
    assert "get" in paths["/api/v1/links/{slug}/stats"]
    assert not [path for path in paths if path.startswith("/internal")]


async def test_docs_page_answers(surge: Surge) -> None:
    response = await surge.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def _an_hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


async def test_a_past_expiry_expires_the_link_at_once(surge: Surge, key: dict[str, str]) -> None:
    created = await surge.client.post(
        LINKS,
        json={"url": "https://example.com/landing", "slug": "gone", "expires_at": _an_hour_ago()},
        headers=key,
    )
    assert created.status_code == 201, created.text
    assert (await surge.client.get("/gone")).status_code == 410
    live = await surge.client.post(
        LINKS, json={"url": "https://example.com/landing", "slug": "live"}, headers=key
    )
    assert live.status_code == 201
    assert (await surge.client.get("/live")).status_code == 302
    expired = await surge.client.patch(
        f"{LINKS}/live", json={"expires_at": _an_hour_ago()}, headers=key
    )
    assert expired.status_code == 200, expired.text
    assert (await surge.client.get("/live")).status_code == 410  # "expire it now"
