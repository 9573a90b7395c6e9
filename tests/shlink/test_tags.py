"""Shlink's tag renaming and deletion against Surge: on the key's user's links (an admin key:
everyone's), with Shlink's answers and problem types."""

from __future__ import annotations

from surge.shlink.schemas import ShortUrl, TagsList
from tests.conftest import Surge
from tests.shlink.contract import REST, shlink_key, shlink_problem, valid

TAGS = f"{REST}/tags"


async def make(surge: Surge, api_key: dict[str, str], slug: str, *tags: str) -> None:
    body = {"longUrl": f"https://example.com/{slug}", "customSlug": slug, "tags": list(tags)}
    assert (await surge.client.post(f"{REST}/short-urls", json=body, headers=api_key)).is_success


async def tags_of(surge: Surge, api_key: dict[str, str], slug: str) -> list[str]:
    answer = await surge.client.get(f"{REST}/short-urls/{slug}", headers=api_key)
    return valid(answer, ShortUrl).tags


async def listed(surge: Surge, api_key: dict[str, str]) -> list[str]:
    return valid(await surge.client.get(TAGS, headers=api_key), TagsList).tags.data


async def test_a_key_renames_a_tag_on_its_users_links(surge: Surge, key: dict[str, str]) -> None:
    mine, theirs = shlink_key(key), shlink_key(await surge.new_key("other"))
    await make(surge, mine, "a1", "beta", "alpha")
    await make(surge, mine, "a2", "beta")
    await make(surge, theirs, "b1", "beta")
    renaming = {"oldName": "beta", "newName": "gamma"}
    renamed = await surge.client.put(TAGS, json=renaming, headers=mine)
    assert (renamed.status_code, renamed.content) == (204, b"")
    assert await listed(surge, mine) == ["alpha", "gamma"]
    assert await tags_of(surge, mine, "a1") == ["alpha", "gamma"]
    assert await listed(surge, theirs) == ["beta"]
    # The redirect does not depend on tags: it goes on as before.
    went = await surge.client.get("/a2")
    assert (went.status_code, went.headers["location"]) == (302, "https://example.com/a2")


async def test_renaming_problems_are_shlinks_and_change_nothing(
    surge: Surge, key: dict[str, str]
) -> None:
    mine, theirs = shlink_key(key), shlink_key(await surge.new_key("other"))
    await make(surge, mine, "a1", "alpha", "beta")
    await make(surge, theirs, "b1", "theirs")
    put = surge.client.put
    conflict = await put(TAGS, json={"oldName": "alpha", "newName": "beta"}, headers=mine)
    body = shlink_problem(conflict, 409, "tag-conflict")
    assert (body["oldName"], body["newName"]) == ("alpha", "beta")
    missing = await put(TAGS, json={"oldName": "nope", "newName": "x"}, headers=mine)
    assert shlink_problem(missing, 404, "tag-not-found")["tag"] == "nope"
    # Another user's tag is not this key's.
    other = await put(TAGS, json={"oldName": "theirs", "newName": "x"}, headers=mine)
    shlink_problem(other, 404, "tag-not-found")
    invalid = await put(TAGS, json={"oldName": "alpha", "newName": "a b"}, headers=mine)
    assert shlink_problem(invalid, 400, "invalid-data")["invalidElements"] == ["newName"]
    incomplete = await put(TAGS, json={}, headers=mine)
    assert shlink_problem(incomplete, 400, "invalid-data")["invalidElements"] == [
        "newName",
        "oldName",
    ]
    assert await tags_of(surge, mine, "a1") == ["alpha", "beta"]
    assert await listed(surge, theirs) == ["theirs"]


async def test_a_key_deletes_tags_from_its_users_links(surge: Surge, key: dict[str, str]) -> None:
    mine, theirs = shlink_key(key), shlink_key(await surge.new_key("other"))
    await make(surge, mine, "a1", "alpha", "beta", "keep")
    await make(surge, theirs, "b1", "alpha")
    deleted = await surge.client.delete(
        TAGS, params={"tags[]": ["alpha", "beta", "unknown"]}, headers=mine
    )
    assert deleted.status_code == 204  # a tag none of the links has is no error, as in Shlink
    assert await tags_of(surge, mine, "a1") == ["keep"]  # the short URL stays
    assert await listed(surge, theirs) == ["alpha"]
    assert (await surge.client.delete(TAGS, headers=mine)).status_code == 204


async def test_an_admin_key_changes_tags_on_everyones_links(
    surge: Surge, key: dict[str, str]
) -> None:
    assert surge.api.keys is not None
    admin = {"X-Api-Key": (await surge.api.keys.create("admin", is_admin=True)).secret}
    mine = shlink_key(key)
    await make(surge, mine, "a1", "alpha", "beta")
    renaming = {"oldName": "alpha", "newName": "omega"}
    assert (await surge.client.put(TAGS, json=renaming, headers=admin)).status_code == 204
    deleted = await surge.client.delete(TAGS, params={"tags[]": "beta"}, headers=admin)
    assert deleted.status_code == 204
    assert await tags_of(surge, mine, "a1") == ["omega"]
