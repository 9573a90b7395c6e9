"""The links API's batches: `POST /api/v1/links/bulk` (create), `/bulk/tags` and
`/bulk/delete`, on both backends. One app per backend for the module; each test makes its own
keys (each a user of its own), so what one test writes no other sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from surge.data.tables import links
from tests.conftest import Surge, running_surge
from tests.helpers import LINKS, assert_problem, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

BULK = f"{LINKS}/bulk"


@pytest.fixture(scope="module")
def surge(module_surge: Surge) -> Surge:
    return module_surge


@pytest_asyncio.fixture(loop_scope="module")
async def key(surge: Surge) -> dict[str, str]:
    return await surge.new_key()


async def count_links(surge: Surge) -> int:
    """Every link in the database, whoever owns it."""
    async with surge.links.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(links))).scalar_one())


async def bulk(surge: Surge, key: dict[str, str], path: str = "", **body: Any) -> Any:
    response = await surge.client.post(BULK + path, json=body, headers=key)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def problem_of(result: dict[str, Any]) -> tuple[int, str, int]:
    return result["index"], result["type"].removeprefix("urn:surge:problem:"), result["status"]


# --- create ------------------------------------------------------------------------------------


async def test_a_thousand_links_in_one_call(surge: Surge, key: dict[str, str]) -> None:
    before = await count_links(surge)
    sent = [{"url": f"https://example.com/p/{i}", "tags": ["spring"]} for i in range(1000)]
    results = await bulk(surge, key, links=sent)
    assert [r["url"] for r in results] == [s["url"] for s in sent]  # in the request's order
    assert all(r["tags"] == ["spring"] and len(r["slug"]) == 7 for r in results)
    assert len({r["slug"] for r in results}) == 1000
    assert await count_links(surge) == before + 1000
    # Each is a link like any other: it redirects.
    answer = await surge.client.get(f"/{results[999]['slug']}")
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://example.com/p/999"


async def test_a_mixed_batch_answers_each_item_as_a_single_create_would(
    surge: Surge, key: dict[str, str]
) -> None:
    taken = await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "bk-taken"}, headers=key
    )
    assert taken.status_code == 201, taken.text
    items = [
        {"url": "https://example.com/ok", "slug": "bk-one", "title": "One"},
        {"url": "https://example.com/again", "slug": "bk-one"},  # a duplicate in the batch
        {"url": "https://example.com/other", "slug": "bk-taken"},  # taken before the batch
        {"url": "ftp://example.com/file"},  # not a URL a link may have
        {"url": "https://printer.internal/"},  # a local name
        {"url": "https://example.com/ok2", "tags": ["fine"]},
        {"url": "https://example.com/", "slg": "typo"},  # an unknown field
    ]
    results = await bulk(surge, key, links=items)
    assert len(results) == 7
    assert results[0]["slug"] == "bk-one"
    assert results[0]["title"] == "One"
    assert results[5]["tags"] == ["fine"]
    problems = [problem_of(r) for r in results if "type" in r]
    assert problems == [
        (1, "slug-taken", 409),
        (2, "slug-taken", 409),
        (3, "validation-error", 422),
        (4, "validation-error", 422),
        (6, "validation-error", 422),
    ]
    # Each problem is the very one a single create of the item answers.
    for i in (2, 3, 4, 6):
        single = await surge.client.post(LINKS, json=items[i], headers=key)
        expected = single.json()
        assert {k: v for k, v in results[i].items() if k != "index"} == expected
    assert (await surge.client.get(f"{LINKS}/bk-one", headers=key)).json()["url"] == items[0]["url"]


async def test_atomic_creates_all_or_nothing(surge: Surge, key: dict[str, str]) -> None:
    good = [{"url": f"https://example.com/a/{i}"} for i in range(5)]
    bad = [*good[:2], {"url": "https://example.com/x", "slug": "bk-at"}, {"url": "nope"}]
    bad.append({"url": "https://example.com/y", "slug": "bk-at"})
    before = await count_links(surge)
    response = await surge.client.post(BULK, json={"links": bad, "atomic": True}, headers=key)
    problem = assert_problem(response, 422, "batch-refused")
    assert [problem_of(e) for e in problem["errors"]] == [
        (3, "validation-error", 422),
        (4, "slug-taken", 409),
    ]
    assert await count_links(surge) == before  # nothing left behind, not even bk-at
    assert (await surge.client.get(f"{LINKS}/bk-at", headers=key)).status_code == 404
    results = await bulk(surge, key, links=good, atomic=True)
    assert len(results) == 5
    assert await count_links(surge) == before + 5


async def test_more_than_a_thousand_is_refused_whole(surge: Surge, key: dict[str, str]) -> None:
    before = await count_links(surge)
    sent = [{"url": f"https://example.com/{i}"} for i in range(1001)]
    response = await surge.client.post(BULK, json={"links": sent}, headers=key)
    assert "at most 1000" in assert_problem(response, 422, "validation-error")["detail"]
    empty = await surge.client.post(BULK, json={"links": []}, headers=key)
    assert_problem(empty, 422, "validation-error")
    assert await count_links(surge) == before


# --- tag and delete ----------------------------------------------------------------------------


async def make(surge: Surge, key: dict[str, str], *slugs: str, tags: list[str]) -> None:
    sent = [{"url": f"https://example.com/{s}", "slug": s, "tags": tags} for s in slugs]
    results = await bulk(surge, key, links=sent)
    assert all("type" not in r for r in results), results


async def test_tags_by_slugs_and_by_tag(surge: Surge, key: dict[str, str]) -> None:
    await make(surge, key, "tg-a", "tg-b", "tg-c", tags=["old"])
    results = await bulk(
        surge, key, "/tags", slugs=["tg-a", "tg-missing", "tg-b"], add=["new", "x"], remove=["old"]
    )
    assert [r.get("tags") for r in results] == [["new", "x"], None, ["new", "x"]]
    assert problem_of(results[1]) == (1, "not-found", 404)
    assert results[1]["slug"] == "tg-missing"
    results = await bulk(surge, key, "/tags", tag="old", add=["kept"])
    assert [(r["slug"], r["tags"]) for r in results] == [("tg-c", ["kept", "old"])]
    listed = await surge.client.get(LINKS, params={"tag": "new"}, headers=key)
    assert sorted(link["slug"] for link in listed.json()["items"]) == ["tg-a", "tg-b"]


async def test_delete_by_slugs_and_by_tag_stops_the_redirects(
    surge: Surge, key: dict[str, str]
) -> None:
    await make(surge, key, "dl-a", "dl-b", tags=["doomed"])
    await make(surge, key, "dl-c", tags=["kept"])
    assert (await surge.client.get("/dl-a")).status_code == 302  # now cached
    results = await bulk(surge, key, "/delete", slugs=["dl-a", "dl-a", "dl-zz"])
    assert results[0] == {"slug": "dl-a", "domain": "sho.rt", "deleted": True}
    assert [problem_of(r) for r in results[1:]] == [(1, "not-found", 404), (2, "not-found", 404)]
    assert (await surge.client.get("/dl-a")).status_code == 404  # the cache was told
    results = await bulk(surge, key, "/delete", tag="doomed")
    assert results == [{"slug": "dl-b", "domain": "sho.rt", "deleted": True}]
    assert (await surge.client.get("/dl-b")).status_code == 404
    assert (await surge.client.get("/dl-c")).status_code == 302


async def test_users_touch_only_their_own_links_and_admins_any(surge: Surge) -> None:
    owner, intruder = await surge.new_key("owner"), await surge.new_key("intruder")
    await make(surge, owner, "own-a", "own-b", tags=["mine"])
    assert await bulk(surge, intruder, "/tags", tag="mine", add=["stolen"]) == []
    results = await bulk(surge, intruder, "/delete", slugs=["own-a"])
    assert problem_of(results[0]) == (0, "not-found", 404)
    assert await bulk(surge, intruder, "/delete", tag="mine") == []
    assert (await surge.client.get(f"{LINKS}/own-a", headers=owner)).json()["tags"] == ["mine"]
    assert surge.api.keys is not None
    admin = await surge.api.keys.create("admin", is_admin=True)
    admin_key = {"Authorization": f"Bearer {admin.secret}"}
    results = await bulk(surge, admin_key, "/delete", slugs=["own-a", "own-b"])
    assert [r.get("deleted") for r in results] == [True, True]


async def test_a_selection_is_slugs_or_a_tag(surge: Surge, key: dict[str, str]) -> None:
    for body in ({}, {"slugs": ["a"], "tag": "b"}, {"slugs": [f"s{i}" for i in range(1001)]}):
        response = await surge.client.post(f"{BULK}/delete", json=body, headers=key)
        assert_problem(response, 422, "validation-error")


# --- rate limits -------------------------------------------------------------------------------


async def test_a_batch_of_n_counts_n_against_the_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key="10/minute", links_per_key_per_day=8)
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        sent = [{"url": f"https://example.com/{i}"} for i in range(5)]
        response = await surge.client.post(BULK, json={"links": sent}, headers=key)
        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Remaining"] == "5"  # 10 - 5
        # 4 more would pass the key's limit (5 left) but not its quota (3 links left today).
        again = await surge.client.post(BULK, json={"links": sent[:4]}, headers=key)
        assert_problem(again, 429, "rate-limited")
        tagging = await surge.client.post(
            f"{BULK}/tags",
            json={"slugs": ["a", "b", "c", "d", "e", "f"], "add": ["x"]},
            headers=key,
        )
        assert_problem(tagging, 429, "rate-limited")  # 6 > what is left of 10
        assert await count_links(surge) == 5
