"""All SQL of webhook endpoints as their owners see them: registered, listed, re-enabled,
their delivery attempts, an event sent again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import links, webhook_deliveries, webhook_endpoints, webhook_outbox
from surge.webhooks.events import events_column, events_of


@dataclass(slots=True, frozen=True)
class Endpoint:
    id: int
    owner_id: int
    url: str
    events: tuple[str, ...]
    link_id: int | None
    link_slug: str | None  # None also once the link is deleted
    tag: str | None
    secret: str
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    pending: int  # events not yet delivered
    created_at: datetime


@dataclass(slots=True, frozen=True)
class NewEndpoint:
    owner_id: int
    url: str
    events: tuple[str, ...]
    link_id: int | None
    tag: str | None
    secret: str


@dataclass(slots=True, frozen=True)
class Delivery:
    event_id: str
    type: str
    attempted_at: datetime
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, new: NewEndpoint, now: datetime) -> int:
        result = await self.session.execute(
            insert(webhook_endpoints)
            .values(
                owner_id=new.owner_id,
                url=new.url,
                events=events_column(new.events),
                link_id=new.link_id,
                tag=new.tag,
                secret=new.secret,
                enabled=True,
                consecutive_failures=0,
                created_at=now,
            )
            .returning(webhook_endpoints.c.id)
        )
        return int(result.scalar_one())

    async def count(self, owner_id: int) -> int:
        query = select(func.count()).where(webhook_endpoints.c.owner_id == owner_id)
        return int((await self.session.execute(query)).scalar_one())

    async def listed(self, owner_id: int | None, endpoint_id: int | None = None) -> list[Endpoint]:
        """The owner's endpoints (None: everyone's), oldest first; or the one `endpoint_id`."""
        e = webhook_endpoints.c
        pending = (
            select(func.count())
            .where(webhook_outbox.c.endpoint_id == e.id, webhook_outbox.c.delivered_at.is_(None))
            .scalar_subquery()
        )
        query = (
            select(webhook_endpoints, links.c.slug.label("link_slug"), pending.label("pending"))
            .outerjoin(links, links.c.id == e.link_id)
            .order_by(e.id)
        )
        if owner_id is not None:
            query = query.where(e.owner_id == owner_id)
        if endpoint_id is not None:
            query = query.where(e.id == endpoint_id)
        return [_endpoint(row) for row in await self.session.execute(query)]

    async def delete(self, endpoint_id: int) -> None:
        # Its outbox, queued clicks and attempts go with it (ON DELETE CASCADE; SQLite's
        # foreign keys are on, surge.platform.db).
        await self.session.execute(
            delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        )

    async def enable(self, endpoint_id: int, now: datetime) -> None:
        """Enabled again, its failures forgotten, its first undelivered event due now."""
        await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(enabled=True, disabled_reason=None, consecutive_failures=0)
        )
        await self.session.execute(
            update(webhook_outbox)
            .where(
                webhook_outbox.c.endpoint_id == endpoint_id,
                webhook_outbox.c.delivered_at.is_(None),
                webhook_outbox.c.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )

    async def deliveries(self, endpoint_id: int, limit: int) -> list[Delivery]:
        """The last `limit` attempts, newest first."""
        d = webhook_deliveries.c
        rows = await self.session.execute(
            select(d.event_id, d.type, d.attempted_at, d.ok, d.status_code, d.latency_ms, d.error)
            .where(d.endpoint_id == endpoint_id)
            .order_by(d.id.desc())
            .limit(limit)
        )
        return [Delivery(*row) for row in rows]

    async def event(self, endpoint_id: int, event_id: str) -> tuple[str, str] | None:
        """(type, body) of an event the endpoint was sent or is to be sent, if still kept."""
        row = (
            await self.session.execute(
                select(webhook_outbox.c.type, webhook_outbox.c.body)
                .where(
                    webhook_outbox.c.endpoint_id == endpoint_id,
                    webhook_outbox.c.event_id == event_id,
                )
                .limit(1)
            )
        ).first()
        return (str(row.type), str(row.body)) if row else None


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=int(row.id),
        owner_id=int(row.owner_id),
        url=row.url,
        events=tuple(events_of(row.events)),
        link_id=row.link_id,
        link_slug=row.link_slug,
        tag=row.tag,
        secret=row.secret,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        consecutive_failures=int(row.consecutive_failures),
        pending=int(row.pending),
        created_at=row.created_at,
    )
