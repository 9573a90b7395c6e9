"""All SQL of delivering webhooks: endpoints claimed by one replica at a time (a lease), each
endpoint's events in order (its head first), attempts, and clicks gathered into batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import (
    webhook_click_queue,
    webhook_deliveries,
    webhook_endpoints,
    webhook_outbox,
)

MAX_ERROR = 500  # webhook_deliveries.error, disabled_reason


@dataclass(slots=True, frozen=True)
class Head:
    """An endpoint's first undelivered event, with what delivering it needs."""

    endpoint_id: int
    url: str
    secret: str
    enabled: bool
    consecutive_failures: int
    seq: int
    event_id: str
    type: str
    body: str
    attempts: int
    next_attempt_at: datetime


@dataclass(slots=True, frozen=True)
class Attempt:
    """One delivery attempt's outcome, as the owner sees it."""

    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(webhook_endpoints.c.lease_until.is_(None), webhook_endpoints.c.lease_until < now)


def _first_pending() -> ColumnElement[int]:
    """The seq of an endpoint's head (correlated with webhook_endpoints)."""
    pending = webhook_outbox.alias("pending")
    return (
        select(func.min(pending.c.seq))
        .where(pending.c.endpoint_id == webhook_endpoints.c.id, pending.c.delivered_at.is_(None))
        .correlate(webhook_endpoints)
        .scalar_subquery()
    )


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- claims ----------------------------------------------------------------------------

    async def due_endpoints(self, now: datetime, limit: int) -> list[int]:
        """Enabled endpoints nobody holds whose head is due, oldest head first."""
        head = _first_pending()
        rows = await self.session.execute(
            select(webhook_endpoints.c.id)
            .select_from(webhook_endpoints)
            .join(webhook_outbox, webhook_outbox.c.seq == head)
            .where(
                webhook_endpoints.c.enabled.is_(True),
                _lease_free(now),
                webhook_outbox.c.next_attempt_at <= now,
            )
            .order_by(webhook_outbox.c.seq)
            .limit(limit)
        )
        return [int(i) for i in rows.scalars()]

    async def claim(self, endpoint_id: int, owner: str, now: datetime, until: datetime) -> bool:
        """Hold the endpoint until `until`, if nobody else holds it (one row update: of two
        replicas trying at once, one wins)."""
        result = await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id, _lease_free(now))
            .values(lease_owner=owner, lease_until=until)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def renew(self, endpoint_id: int, owner: str, now: datetime, until: datetime) -> bool:
        """Hold it longer, if it is still ours (and our lease has not run out)."""
        result = await self.session.execute(
            update(webhook_endpoints)
            .where(
                webhook_endpoints.c.id == endpoint_id,
                webhook_endpoints.c.lease_owner == owner,
                webhook_endpoints.c.lease_until >= now,
            )
            .values(lease_until=until)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def release(self, endpoint_id: int, owner: str) -> None:
        await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    # --- an endpoint's events in order -----------------------------------------------------

    async def heads(self, endpoint_id: int, limit: int) -> list[Head]:
        """The endpoint's first `limit` undelivered events, in order (the first is its head)."""
        e, o = webhook_endpoints.c, webhook_outbox.c
        rows = (
            await self.session.execute(
                select(
                    e.id,
                    e.url,
                    e.secret,
                    e.enabled,
                    e.consecutive_failures,
                    o.seq,
                    o.event_id,
                    o.type,
                    o.body,
                    o.attempts,
                    o.next_attempt_at,
                )
                .select_from(webhook_endpoints)
                .join(webhook_outbox, o.endpoint_id == e.id)
                .where(e.id == endpoint_id, o.delivered_at.is_(None))
                .order_by(o.seq)
                .limit(limit)
            )
        ).all()
        return [Head(*row) for row in rows]

    async def record(self, attempts: list[tuple[Head, Attempt, datetime]]) -> None:
        """Attempts, each with the event it tried and when it ended."""
        await self.session.execute(
            insert(webhook_deliveries),
            [
                {
                    "endpoint_id": head.endpoint_id,
                    "event_id": head.event_id,
                    "type": head.type,
                    "attempted_at": at,
                    "status_code": attempt.status_code,
                    "latency_ms": attempt.latency_ms,
                    "ok": attempt.ok,
                    "error": attempt.error[:MAX_ERROR] if attempt.error else None,
                }
                for head, attempt, at in attempts
            ],
        )

    async def delivered(self, endpoint_id: int, seqs: list[int], now: datetime) -> None:
        await self.session.execute(
            update(webhook_outbox)
            .where(webhook_outbox.c.seq.in_(seqs))
            .values(delivered_at=now, attempts=webhook_outbox.c.attempts + 1)
        )
        await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(consecutive_failures=0)
        )

    async def failed(self, head: Head, retry_at: datetime, disabled_reason: str | None) -> None:
        """The head waits until `retry_at`; `disabled_reason`: the endpoint is disabled."""
        await self.session.execute(
            update(webhook_outbox)
            .where(webhook_outbox.c.seq == head.seq)
            .values(next_attempt_at=retry_at, attempts=webhook_outbox.c.attempts + 1)
        )
        changes: dict[str, object] = {
            "consecutive_failures": webhook_endpoints.c.consecutive_failures + 1
        }
        if disabled_reason is not None:
            changes |= {"enabled": False, "disabled_reason": disabled_reason[:MAX_ERROR]}
        await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == head.endpoint_id)
            .values(**changes)
        )

    # --- clicks into batches ---------------------------------------------------------------

    async def due_click_batches(self, full: int, queued_before: datetime) -> list[int]:
        """Endpoints with `full` clicks queued, or one queued before `queued_before`."""
        q = webhook_click_queue.c
        rows = await self.session.execute(
            select(q.endpoint_id)
            .group_by(q.endpoint_id)
            .having(or_(func.count() >= full, func.min(q.queued_at) < queued_before))
        )
        return [int(i) for i in rows.scalars()]

    async def take_clicks(self, endpoint_id: int, limit: int) -> list[str]:
        """Remove and answer the endpoint's first `limit` queued clicks (JSON each), in order.
        Of two replicas taking them at once, each click goes to one (the rows are deleted)."""
        q = webhook_click_queue.c
        first = (
            select(q.id).where(q.endpoint_id == endpoint_id).order_by(q.id).limit(limit)
        ).scalar_subquery()
        rows = await self.session.execute(
            delete(webhook_click_queue).where(q.id.in_(first)).returning(q.id, q.click)
        )
        return [click for _, click in sorted(rows.all())]

    # --- what the metrics show -------------------------------------------------------------

    async def backlog(self) -> tuple[int, datetime | None]:
        """Undelivered events of enabled endpoints: how many, and the oldest one's time."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(webhook_outbox.c.created_at))
                .select_from(webhook_outbox)
                .join(webhook_endpoints, webhook_endpoints.c.id == webhook_outbox.c.endpoint_id)
                .where(
                    webhook_outbox.c.delivered_at.is_(None),
                    webhook_endpoints.c.enabled.is_(True),
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def disabled(self) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(webhook_endpoints.c.enabled.is_(False))
                )
            ).scalar_one()
        )

    async def forget_before(self, before: datetime) -> None:
        """Delivered events and attempts older than `before` (resend needs what is kept)."""
        await self.session.execute(
            delete(webhook_outbox).where(
                webhook_outbox.c.delivered_at.is_not(None), webhook_outbox.c.delivered_at < before
            )
        )
        await self.session.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.attempted_at < before)
        )
