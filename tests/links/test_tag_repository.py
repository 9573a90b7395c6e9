"""Tags renamed and taken off links in SQL: only the owner's links, each marked changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from surge.accounts.keys import KeyService
from surge.links.repository import LinkRepository, LinkValues
from surge.links.tag_repository import TagRepository, TagTaken
from surge.platform.db import SessionMaker

CREATED = datetime(2030, 1, 1, tzinfo=UTC)
CHANGED = CREATED + timedelta(days=1)


async def links_with(sessions: SessionMaker, *tagged: tuple[str, int, tuple[str, ...]]) -> None:
    """A link per (slug, owner, tags)."""
    async with sessions.begin() as session:
        for slug, owner, tags in tagged:
            values = LinkValues(f"https://example.com/{slug}", 302, None, None, tags)
            await LinkRepository(session).add(owner, [("", slug, values)], CREATED)


async def state(sessions: SessionMaker, slug: str) -> tuple[tuple[str, ...], datetime]:
    """The link's tags, and when it last changed."""
    async with sessions() as session:
        link = await LinkRepository(session).by_slug(slug)
    assert link is not None
    return link.values.tags, link.updated_at.replace(tzinfo=UTC)


async def test_renaming_and_deleting_touch_only_the_owners_tagged_links(
    sessions: SessionMaker,
) -> None:
    keys = KeyService(sessions)
    ada, bob = (await keys.create("ada")).user_id, (await keys.create("bob")).user_id
    await links_with(
        sessions, ("a1", ada, ("old", "x")), ("a2", ada, ("y",)), ("b1", bob, ("old",))
    )
    async with sessions.begin() as session:
        tags = TagRepository(session)
        assert await tags.found(ada, ["old", "y", "z"]) == {"old", "y"}
        await tags.rename(ada, "old", "new", CHANGED)
    assert await state(sessions, "a1") == (("new", "x"), CHANGED)
    assert await state(sessions, "a2") == (("y",), CREATED)
    assert await state(sessions, "b1") == (("old",), CREATED)
    async with sessions.begin() as session:
        await TagRepository(session).delete(None, ["old", "x"], CHANGED + timedelta(days=1))
    assert await state(sessions, "a1") == (("new",), CHANGED + timedelta(days=1))
    assert await state(sessions, "b1") == ((), CHANGED + timedelta(days=1))
    assert await state(sessions, "a2") == (("y",), CREATED)


async def test_a_rename_onto_a_tag_the_link_has_is_refused(sessions: SessionMaker) -> None:
    """What the service's check cannot see: a link given the new name meanwhile."""
    owner = (await KeyService(sessions).create("ada")).user_id
    await links_with(sessions, ("a1", owner, ("old", "new")))
    with pytest.raises(TagTaken):
        async with sessions.begin() as session:
            await TagRepository(session).rename(owner, "old", "new", CHANGED)
    assert await state(sessions, "a1") == (("new", "old"), CREATED)
