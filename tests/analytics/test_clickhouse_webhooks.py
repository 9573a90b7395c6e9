"""Webhooks that take clicks, with the clicks in ClickHouse: each new click queued (in the SQL
database) before it is stored, so a consumer killed in between queues it again rather than
never (at least once), and a batch delivered again after both queues nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.service import ClickService
from surge.data.tables import users, webhook_click_queue
from surge.links.repository import LinkRepository
from surge.platform.clickhouse import ClickHouse
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction
from surge.webhooks.event_repository import ClickWebhooks
from surge.webhooks.repository import EndpointRepository, NewEndpoint
from tests.analytics.test_clickhouse_repository import stored_rows
from tests.helpers import event


async def queued(sessions: SessionMaker) -> int:
    async with sessions() as session:
        found = await session.execute(select(func.count()).select_from(webhook_click_queue))
    return int(found.scalar_one())


async def test_new_clicks_are_queued_before_they_are_stored(
    sqlite_sessions: SessionMaker, clickhouse: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utc_now()
    async with transaction(sqlite_sessions) as session:
        user = await session.execute(
            insert(users).values(is_admin=False, created_at=now).returning(users.c.id)
        )
        owner_id = int(user.scalar_one())
        (link_id,) = await LinkRepository(session).add_many(
            owner_id, [("hooked", "https://example.com/")], now
        )
        endpoint = NewEndpoint(owner_id, "http://127.0.0.1:9/", ("link.clicked",), None, None, "s")
        await EndpointRepository(session).add(endpoint, now)
    store = ClickHouseClicks(clickhouse)
    clicks = ClickService(sqlite_sessions, webhooks=ClickWebhooks(), clickhouse=store)
    batch = [event(link_id) for _ in range(4)]
    await clicks.ingest(batch[:2])
    assert await queued(sqlite_sessions) == 2

    # Killed after queueing, before the INSERT: the batch comes back and is queued again.
    async def killed(_clicks: Any) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as patched:
        patched.setattr(store, "store", killed)
        with pytest.raises(RuntimeError, match="killed"):
            await clicks.ingest(batch)
    assert await queued(sqlite_sessions) == 4  # the two new ones
    assert (await clicks.ingest(batch)).ingested == 2
    assert await queued(sqlite_sessions) == 6  # again: at least once
    assert await stored_rows(clickhouse) == 4
    assert (await clicks.ingest(batch)).ingested == 0
    assert await queued(sqlite_sessions) == 6  # stored and queued: nothing more
