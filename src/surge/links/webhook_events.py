"""Links' changes as webhook events (surge.webhooks): written by the links' repositories where
each change is made, in its transaction, so every door (REST, dashboard, Shlink API), imports
and bulk writes emit them alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from surge.webhooks.event_repository import LinkFacts, Subscriber, link_events, subscribers

if TYPE_CHECKING:
    from surge.links.repository import Link


def link_data(link: Link) -> dict[str, Any]:
    """A link as its events carry it (`domain` None: the default domain; no password hash)."""
    values = link.values
    return {
        "link": {
            "id": link.id,
            "slug": link.slug,
            "domain": link.domain or None,
            "url": values.url,
            "title": values.title,
            "tags": list(values.tags),
            "redirect_type": values.redirect_type,
            "expires_at": values.expires_at,
            "max_clicks": values.max_clicks,
            "valid_since": values.valid_since,
            "forward_query": values.forward_query,
            "crawlable": values.crawlable,
            "password_protected": values.password_hash is not None,
            "created_at": link.created_at,
            "updated_at": link.updated_at,
        }
    }


async def record_link_events(
    session: AsyncSession,
    event_type: str,
    changed: Sequence[Link],
    found: Sequence[Subscriber] | None = None,
) -> None:
    facts = [LinkFacts(c.id, c.owner_id, c.values.tags, link_data(c)) for c in changed]
    await link_events(session, event_type, facts, found)


async def record_links_by_id(
    session: AsyncSession, event_type: str, link_ids: Sequence[int]
) -> None:
    """`event_type` for each of `link_ids` as it is now (a change of many at once: their tags,
    their deletion): the links are read only when some endpoint takes the event."""
    found = await subscribers(session, event_type) if link_ids else []
    if found:
        from surge.links.repository import LinkQueries  # the repository imports this module

        links = await LinkQueries(session).by_ids(link_ids)
        await record_link_events(session, event_type, links, found)
