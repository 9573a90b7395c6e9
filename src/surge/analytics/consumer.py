"""The click-stream consumer: Redis Streams consumer group → the same `ingest` as HTTP.

Each stream entry is one batch from one redirect replica. Entries are acknowledged only after
the ingest transaction commits, so a crash anywhere re-delivers them (to this consumer on its
next read of its own pending list, or to another one by XAUTOCLAIM once they sit idle) and
idempotent ingest counts each click once. The stream is trimmed only below the oldest entry
not yet acknowledged: unprocessed events are never dropped.

A click stream split into shards (SURGE_CLICK_STREAM_SHARDS) has one consumer per shard read,
each with its own loop: every command touches its own stream alone, so on a Redis Cluster each
shard's reads go to the master of its slot, and a blocked read of an idle shard holds up no
other shard.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from redis.exceptions import ResponseError

from surge.analytics.service import ClickService
from surge.data.events import ClickEvent, unpack_batch
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import DEAD_LETTERED, STREAM_LAG, STREAM_LENGTH, STREAM_PENDING
from surge.platform.redis import RedisClient, RedisNames
from surge.platform.tracing import LINKS_FIELD

log = get_logger(__name__)
Entry = tuple[bytes, dict[bytes, bytes]]
MAINTENANCE_EVERY_S = 2.0
_LINKS = LINKS_FIELD.encode()


class ClickStreamConsumer:
    def __init__(
        self,
        redis: RedisClient,
        clicks: ClickService,
        names: RedisNames,
        *,
        shard: int = 0,
        claim_idle_ms: int,
        read_count: int,
        block_ms: int = 1000,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.clicks = clicks
        self.names = names
        self.stream = names.click_shard(shard)
        self.shard = str(shard)
        self.group = names.analytics_group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.read_count = read_count
        self.block_ms = block_ms
        loop_name = "click-stream-consumer" if shard == 0 else f"click-stream-consumer-{shard}"
        self._loop = SupervisedLoop(loop_name, self.step, on_failure=self._failed)
        self._read_own_pending = True
        self._group_ready = False
        self._claim_cursor = "0-0"
        self._next_maintenance = 0.0

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def _failed(self, _exc: Exception) -> None:
        # Nothing was acknowledged: the entries stay pending and come back. A Redis that
        # restarted empty has lost the group too, so make sure of it again.
        self._read_own_pending = True
        self._group_ready = False

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def step(self) -> int:
        """One round: own pending entries, stale ones of others, then new ones. Entries handled."""
        if not self._group_ready:
            await self.ensure_group()
            self._group_ready = True
        now = asyncio.get_running_loop().time()
        maintenance_due = now >= self._next_maintenance
        if maintenance_due:
            self._next_maintenance = now + MAINTENANCE_EVERY_S
            # Before any ingest: while every round's ingest fails (the click store away), the
            # gauges must go on showing the backlog grow, which is what the stream's alerts read.
            await self._measure()
        handled = 0
        if self._read_own_pending:
            own = await self._read("0", block_ms=None)
            handled += await self._process(own)
            self._read_own_pending = bool(own)
        if maintenance_due:
            handled += await self.maintain()
        handled += await self._process(await self._read(">", block_ms=self.block_ms))
        return handled

    async def maintain(self) -> int:
        """Take over other consumers' stale entries and trim what all have acknowledged (the
        stream is measured at the start of the round: `step`)."""
        handled = await self._process(await self._claim_stale())
        await self._trim()
        return handled

    async def _measure(self) -> None:
        length = await self.redis.xlen(self.stream)
        groups: Any = await self.redis.xinfo_groups(self.stream)
        ours = next((g for g in groups if g["name"] in (self.group, self.group.encode())), None)
        STREAM_LENGTH.labels(self.shard).set(length)
        if ours is not None:
            STREAM_PENDING.labels(self.shard).set(ours["pending"])
            # Redis 7 counts the entries not yet delivered to the group; None when it cannot
            # tell (after an XDEL or XTRIM cut into undelivered ones), then length is the bound.
            lag = ours.get("lag")
            STREAM_LAG.labels(self.shard).set(length if lag is None else lag)

    async def _read(self, start: str, *, block_ms: int | None) -> list[Entry]:
        answer: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.read_count, block=block_ms
        )
        if not answer:
            return []
        entries: list[Entry] = answer[0][1]
        return entries

    async def _claim_stale(self) -> list[Entry]:
        """Entries another consumer took and left unacknowledged too long (it crashed)."""
        answer: Any = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.read_count,
        )
        next_cursor, entries = answer[0], answer[1]
        self._claim_cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else next_cursor
        claimed: list[Entry] = entries
        if claimed:
            log.info("click_entries_claimed", count=len(claimed), consumer=self.consumer)
        return claimed

    async def _process(self, entries: list[Entry]) -> int:
        if not entries:
            return 0
        events: list[ClickEvent] = []
        links: list[str] = []
        for entry_id, fields in entries:
            if fields is None:  # deleted while pending: nothing left to ingest
                continue
            if _LINKS in fields:
                links += fields[_LINKS].decode("latin-1").split(",")
            try:
                events.extend(unpack_batch(fields[b"events"]))
            except (KeyError, ValueError):
                # A poison entry must not block the stream: keep it aside for a human, ack it.
                log.error("click_entry_unreadable", entry_id=entry_id)
                dead: dict[Any, Any] = dict(fields) or {"raw": b""}
                await self.redis.xadd(self.names.dead_clicks, dead)
                DEAD_LETTERED.inc()
        if events:
            await self.clicks.ingest(events, links)
        await self.redis.xack(self.stream, self.group, *[entry_id for entry_id, _ in entries])
        return len(entries)

    async def _trim(self) -> None:
        """Drop acknowledged entries only: everything from the oldest pending one stays."""
        pending: Any = await self.redis.xpending(self.stream, self.group)
        if pending["pending"]:
            keep_from = pending["min"]
        else:
            groups: Any = await self.redis.xinfo_groups(self.stream)
            ours = next((g for g in groups if g["name"] in (self.group, self.group.encode())), None)
            if ours is None:
                return
            keep_from = ours["last-delivered-id"]
        if keep_from not in (b"0-0", "0-0"):
            await self.redis.xtrim(self.stream, minid=keep_from, approximate=False)
