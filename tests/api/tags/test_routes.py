"""The tags API: a tag renamed or removed on all the caller's links at once (an admin's: on
everyone's), problems for a bad name, an unknown tag or a name taken."""

from __future__ import annotations

from typing import Any

from tests.conftest import Surge
from tests.helpers import LINKS, assert_problem

TAGS = "/api/v1/tags"


async def with_links(
    surge: Surge, key: dict[str, str], mine: dict[str, list[str]], theirs: dict[str, list[str]]
) -> dict[str, str]:
    """The caller's links and another user's, slug → tags; that other user's key."""
    other = await surge.new_key("other")
    for owner, links in ((key, mine), (other, theirs)):
        for slug, tags in links.items():
            body = {"url": f"https://example.com/{slug}", "slug": slug, "tags": tags}
            assert (await surge.client.post(LINKS, json=body, headers=owner)).status_code == 201
    return other


async def tags_of(surge: Surge, key: dict[str, str]) -> dict[str, list[str]]:
    """Each of the caller's links (slug) with its tags."""
    listed: list[dict[str, Any]] = (await surge.client.get(LINKS, headers=key)).json()["items"]
    return {link["slug"]: link["tags"] for link in listed}


async def admin_key(surge: Surge) -> dict[str, str]:
    assert surge.api.keys is not None
    return {"Authorization": f"Bearer {(await surge.api.keys.create('a', is_admin=True)).secret}"}


async def test_a_tag_is_renamed_on_the_callers_links_only(
    surge: Surge, key: dict[str, str]
) -> None:
    other = await with_links(
        surge, key, {"a1": ["news", "promo"], "a2": ["news"]}, {"b1": ["news"]}
    )
    renamed = await surge.client.patch(f"{TAGS}/news", json={"name": "press"}, headers=key)
    assert renamed.status_code == 204
    assert await tags_of(surge, key) == {"a2": ["press"], "a1": ["press", "promo"]}
    assert await tags_of(surge, other) == {"b1": ["news"]}
    # The redirect does not depend on tags: it goes on as before.
    went = await surge.client.get("/a1")
    assert (went.status_code, went.headers["location"]) == (302, "https://example.com/a1")
    same = await surge.client.patch(f"{TAGS}/press", json={"name": "press"}, headers=key)
    assert same.status_code == 204


async def test_an_admin_renames_and_removes_a_tag_on_everyones_links(
    surge: Surge, key: dict[str, str]
) -> None:
    await with_links(surge, key, {"a1": ["news"]}, {"b1": ["news", "keep"]})
    admin = await admin_key(surge)
    renamed = await surge.client.patch(f"{TAGS}/news", json={"name": "press"}, headers=admin)
    assert renamed.status_code == 204
    assert await tags_of(surge, admin) == {"b1": ["keep", "press"], "a1": ["press"]}
    assert (await surge.client.delete(f"{TAGS}/press", headers=admin)).status_code == 204
    assert await tags_of(surge, admin) == {"b1": ["keep"], "a1": []}


async def test_a_tag_is_removed_from_the_callers_links_which_stay(
    surge: Surge, key: dict[str, str]
) -> None:
    other = await with_links(surge, key, {"a1": ["old", "keep"]}, {"b1": ["old"]})
    assert (await surge.client.delete(f"{TAGS}/old", headers=key)).status_code == 204
    assert await tags_of(surge, key) == {"a1": ["keep"]}
    assert await tags_of(surge, other) == {"b1": ["old"]}
    assert_problem(await surge.client.delete(f"{TAGS}/old", headers=key), 404, "not-found")


async def test_problems_change_nothing(surge: Surge, key: dict[str, str]) -> None:
    other = await with_links(surge, key, {"a1": ["news", "press"]}, {"b1": ["theirs"]})
    before = await tags_of(surge, key)
    patch = surge.client.patch
    taken = await patch(f"{TAGS}/news", json={"name": "press"}, headers=key)
    assert_problem(taken, 409, "tag-taken")
    assert_problem(await patch(f"{TAGS}/nope", json={"name": "x"}, headers=key), 404, "not-found")
    # Another user's tag is not the caller's.
    theirs = await patch(f"{TAGS}/theirs", json={"name": "x"}, headers=key)
    assert_problem(theirs, 404, "not-found")
    for bad in ({"name": "has space"}, {"name": ""}, {"name": "x" * 65}, {}, {"name": "a", "b": 1}):
        refused = await patch(f"{TAGS}/news", json=bad, headers=key)
        assert_problem(refused, 422, "validation-error")
    assert_problem(
        await patch(f"{TAGS}/bad%20tag", json={"name": "x"}, headers=key), 422, "validation-error"
    )
    assert_problem(await patch(f"{TAGS}/news", json={"name": "x"}), 401, "unauthorized")
    assert_problem(await surge.client.delete(f"{TAGS}/news"), 401, "unauthorized")
    assert await tags_of(surge, key) == before
    assert await tags_of(surge, other) == {"b1": ["theirs"]}
