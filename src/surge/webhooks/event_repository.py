"""All SQL that writes webhook events, in the transaction of the change that caused them.

A link's change and its events commit together or not at all (the links repository calls
`link_events` where it makes each change); a click batch and its queued clicks too (ingest
calls `queue_clicks` with exactly the clicks it inserted, so a redelivered batch queues
nothing again). One row per event and matching endpoint. With no endpoint taking the event,
the cost is one query of the endpoints (a small table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.enrich import Click
from surge.data.tables import (
    link_tags,
    links,
    users,
    webhook_click_queue,
    webhook_endpoints,
    webhook_outbox,
)
from surge.platform.clock import utc_now
from surge.webhooks.events import LINK_CLICKED, event_body, new_event_id, subscribed


@dataclass(slots=True, frozen=True)
class LinkFacts:
    """What matching and the event need of a link: its owner and tags, and the event's data."""

    link_id: int
    owner_id: int
    tags: tuple[str, ...]
    data: dict[str, Any]


@dataclass(slots=True, frozen=True)
class Subscriber:
    """An endpoint that takes some event, with what decides which links' events it gets."""

    id: int
    owner_id: int
    sees_everyone: bool  # its owner is an admin
    link_id: int | None
    tag: str | None

    def wants(self, owner_id: int, link_id: int, tags: Sequence[str]) -> bool:
        return (
            (self.sees_everyone or owner_id == self.owner_id)
            and (self.link_id is None or self.link_id == link_id)
            and (self.tag is None or self.tag in tags)
        )


async def subscribers(session: AsyncSession, event_type: str) -> list[Subscriber]:
    """Every endpoint, enabled or not (a disabled one resumes where it stopped), that takes
    `event_type`."""
    rows = await session.execute(
        select(
            webhook_endpoints.c.id,
            webhook_endpoints.c.owner_id,
            users.c.is_admin,
            webhook_endpoints.c.link_id,
            webhook_endpoints.c.tag,
        )
        .join(users, users.c.id == webhook_endpoints.c.owner_id)
        .where(webhook_endpoints.c.events.like(subscribed(event_type)))
    )
    return [
        Subscriber(int(r.id), int(r.owner_id), bool(r.is_admin), r.link_id, r.tag) for r in rows
    ]


async def link_events(
    session: AsyncSession,
    event_type: str,
    facts: Sequence[LinkFacts],
    found: Sequence[Subscriber] | None = None,
) -> int:
    """One `event_type` event per link of `facts`, to every endpoint that wants it (`found`:
    those endpoints, when the caller has asked already); how many rows were written."""
    if not facts:
        return 0
    if found is None:
        found = await subscribers(session, event_type)
    if not found:
        return 0
    now = utc_now()
    rows = []
    for fact in facts:
        wanting = [s for s in found if s.wants(fact.owner_id, fact.link_id, fact.tags)]
        if wanting:
            event_id = new_event_id()
            body = event_body(event_id, event_type, now, fact.data)
            rows += [(s.id, event_id, event_type, body) for s in wanting]
    await insert_outbox_rows(session, rows, now)
    return len(rows)


async def insert_outbox_rows(
    session: AsyncSession, rows: Sequence[tuple[int, str, str, str]], now: datetime
) -> None:
    """Outbox rows (endpoint id, event id, type, body), due now, in the order given."""
    if rows:
        await session.execute(
            insert(webhook_outbox),
            [
                {
                    "endpoint_id": endpoint_id,
                    "event_id": event_id,
                    "type": event_type,
                    "body": body,
                    "created_at": now,
                    "next_attempt_at": now,
                }
                for endpoint_id, event_id, event_type, body in rows
            ],
        )


def click_data(click: Click, slug: str, domain: str) -> dict[str, Any]:
    """A click as a link.clicked batch carries it: the dimensions stats count, no address and
    no visitor id."""
    return {
        "id": click.id,
        "link": {"id": click.link_id, "slug": slug, "domain": domain or None},
        "occurred_at": click.occurred_at,
        "country": click.country,
        "region": click.region,
        "city": click.city,
        "referrer_host": click.referrer_host,
        "browser": click.browser,
        "os": click.os,
        "device": click.device,
        "is_bot": click.is_bot,
        "target": click.target,
    }


async def queue_clicks(
    session: AsyncSession, found: Sequence[Subscriber], clicks: Sequence[Click]
) -> int:
    """Queue each of `clicks` (new ones: ingest inserted them just now) for every endpoint of
    `found` that wants its link's clicks; how many rows were queued."""
    if not found or not clicks:
        return 0
    ids = sorted({c.link_id for c in clicks})
    rows = await session.execute(
        select(links.c.id, links.c.owner_id, links.c.slug, links.c.domain).where(
            links.c.id.in_(ids)
        )
    )
    known = {int(r.id): (int(r.owner_id), str(r.slug), str(r.domain)) for r in rows}
    tags: dict[int, list[str]] = {}
    if any(s.tag is not None for s in found):
        tag_rows = await session.execute(
            select(link_tags.c.link_id, link_tags.c.tag).where(link_tags.c.link_id.in_(ids))
        )
        for link_id, tag in tag_rows:
            tags.setdefault(int(link_id), []).append(tag)
    now = utc_now()
    queued = []
    for click in clicks:
        link = known.get(click.link_id)
        if link is None:  # deleted since: nobody's link any more
            continue
        owner_id, slug, domain = link
        wanting = [
            s for s in found if s.wants(owner_id, click.link_id, tags.get(click.link_id, ()))
        ]
        if wanting:
            text = orjson.dumps(click_data(click, slug, domain)).decode()
            queued += [{"endpoint_id": s.id, "click": text, "queued_at": now} for s in wanting]
    if queued:
        await session.execute(insert(webhook_click_queue), queued)
    return len(queued)


class ClickWebhooks:
    """What ingest asks, inside its transaction: who takes clicks, then queue the new ones."""

    async def subscribers(self, session: AsyncSession) -> list[Subscriber]:
        return await subscribers(session, LINK_CLICKED)

    async def queue(
        self, session: AsyncSession, found: Sequence[Subscriber], clicks: Sequence[Click]
    ) -> int:
        return await queue_clicks(session, found, clicks)
