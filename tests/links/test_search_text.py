"""Search matches slug and URL as one text (as its index is built) yet each on its own."""

from __future__ import annotations

from datetime import UTC, datetime

from surge.accounts.keys import KeyService
from surge.links.repository import LinkRepository, LinkValues
from surge.platform.db import SessionMaker


async def test_a_term_never_spans_slug_and_url(sessions: SessionMaker) -> None:
    owner = (await KeyService(sessions).create("search")).user_id
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        links = LinkRepository(session)
        for slug, url in (("abc", "https://x.example/p"), ("spaced", "https://x.example/a b")):
            await links.add(owner, [("", slug, LinkValues(url, 302, None, None, ()))], now)

    async def found(q: str) -> list[str]:
        async with sessions() as session:
            page = await LinkRepository(session).page(
                owner, before_id=None, limit=51, tag=None, q=q
            )
        return [link.slug for link in page]

    # Slug and URL are searched as "abc https://x.example/p": a term with a space could match
    # across the two, where neither contains it.
    assert await found("c h") == []
    assert await found("C HTTPS://X") == []
    assert await found("abc") == ["abc"]
    assert await found("example/P") == ["abc"]
    assert await found("/a b") == ["spaced"]  # a space inside one of them still matches
