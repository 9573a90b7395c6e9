"""Click events leave the redirect process in batches, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from surge.data.events import ClickRow, by_shard, pack_batch, split_batch
from surge.platform.breakers import Breaker
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import (
    CLICKS_BUFFERED,
    CLICKS_FLUSHED,
    CLICKS_RECORDED,
    CLICKS_SPOOLED,
    SPOOL_BYTES,
    SPOOL_FILES,
)
from surge.platform.redis import RedisClient, append_replicated
from surge.platform.tracing import LINKS_FIELD, LINKS_HEADER, MAX_LINKS
from surge.redirect.spool import Spool

log = get_logger(__name__)
MAX_EVENTS_PER_SEND = 5_000
ORPHAN_SCAN_EVERY_S = 5.0


class ClickSink(Protocol):
    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        """Deliver the whole packed batch or raise; a raised batch is sent again later.
        `links`: traceparents of sampled redirects whose clicks are in it (tracing on).
        `shard`: the click stream shard all its clicks belong to (a sharded sink), or None."""


class HttpClickSink:
    """POSTs batches to analytics' ingest endpoint (in-process via ASGITransport in all-in-one)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        headers = {"content-type": "application/json"}
        if links:
            headers[LINKS_HEADER] = ",".join(links)
        response = await self.client.post(
            "/internal/analytics/clicks", content=batch, headers=headers
        )
        response.raise_for_status()


class RedisStreamSink:
    """Appends a whole batch as ONE stream entry (per shard of the stream).

    One XADD per click, even pipelined, stalled the event loop (p99 ~60 ms, -45% throughput);
    one packed entry per batch costs less than the noise (docs/adr/0003-click-batches.md).
    """

    def __init__(
        self,
        redis: RedisClient,
        streams: Sequence[str],
        breaker: Breaker | None = None,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        """`streams`: the click stream's shards. `breaker`: while Redis is failing, a batch
        goes to the spool at once. `wait_replicas`: an entry counts as sent once that many
        replicas hold it (SURGE_REDIS_WAIT_REPLICAS)."""
        self.redis = redis
        self.streams = list(streams)
        self.breaker = breaker
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        """`shard`: the stream shard every click of `batch` belongs to; None when unknown (a
        batch spooled before it was split), then a sharded stream gets it split."""
        if shard is None and len(self.streams) > 1:
            for part_shard, part in split_batch(batch, len(self.streams)).items():
                await self._append(self.streams[part_shard], part, links)
        else:
            await self._append(self.streams[shard or 0], batch, links)

    async def _append(self, stream: str, batch: bytes, links: Sequence[str]) -> None:
        fields: dict[Any, Any] = {"events": batch}
        if links:
            fields[LINKS_FIELD] = ",".join(links)
        guard = contextlib.nullcontext() if self.breaker is None else self.breaker.guard()
        async with guard:
            if self.wait_replicas:
                await append_replicated(
                    self.redis,
                    stream,
                    fields,
                    replicas=self.wait_replicas,
                    timeout_ms=self.wait_timeout_ms,
                )
            else:
                await self.redis.xadd(stream, fields)


class ClickBuffer:
    """Collects events from requests; a background task flushes every interval or N events.

    Events are kept as tuples of plain values, which the garbage collector stops tracking, so a
    large backlog costs no GC pauses on the hot path (with dataclass events, full collections of
    a 200k-event buffer took 70-190 ms); a batch is serialized once, when it leaves.

    Delivery is at-least-once: a batch the sink refuses goes to the spool and is sent again
    later; analytics ingests idempotently by
    event id, so a retry never double counts. Order is kept: while the spool holds anything, new
    batches queue behind it.
    """

    def __init__(
        self,
        sink: ClickSink,
        *,
        interval_s: float,
        batch_size: int,
        limit: int,
        spool: Spool,
        shards: int = 1,
    ) -> None:
        """`shards`: the sink's click stream shards; a batch leaves split by them, so the
        request path never picks a shard."""
        self.sink = sink
        self.shards = shards
        self.spool = spool
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.limit = limit
        self.events: list[ClickRow] = []
        self._full = asyncio.Event()
        self._flusher = SupervisedLoop("click-flusher", self._flush_round)
        self._spilling: asyncio.Task[None] | None = None
        self._next_orphan_scan = 0.0
        self.recorded = 0  # since the metrics were last published: a plain int on the hot path
        self.links: list[str] = []  # traceparents that go with the next batch sent
        self.sending = 0  # batches out of the buffer and not yet delivered or spooled

    @property
    def idle(self) -> bool:
        """Nothing buffered and nothing on its way: every click recorded was handed over."""
        return not self.events and not self.sending

    def link(self, traceparent: str) -> None:
        """A sampled redirect's span: the next batch sent carries it (up to MAX_LINKS)."""
        if len(self.links) < MAX_LINKS:
            self.links.append(traceparent)

    def add(self, event: ClickRow) -> None:
        self.recorded += 1
        events = self.events
        events.append(event)
        if len(events) >= self.batch_size:
            self._full.set()
            if len(events) > self.limit and (self._spilling is None or self._spilling.done()):
                # The sink is slower than the traffic (a spike, a slow analytics): bound memory
                # by spilling the oldest half to disk, off the request path; it replays later.
                spill = events[: self.limit // 2]
                del events[: len(spill)]
                self._spilling = asyncio.create_task(self._spill(spill), name="click-spill")

    async def _spill(self, rows: list[ClickRow]) -> None:
        await asyncio.to_thread(self.spool.append, pack_batch(rows))
        CLICKS_SPOOLED.inc(len(rows))
        log.warning("clicks_spilled_to_spool", events=len(rows))

    def publish_metrics(self) -> None:
        CLICKS_RECORDED.inc(self.recorded)
        self.recorded = 0
        CLICKS_BUFFERED.set(len(self.events))
        files, size = self.spool.usage()
        SPOOL_FILES.set(files)
        SPOOL_BYTES.set(size)

    def start(self) -> None:
        self._flusher.start()

    @property
    def running(self) -> bool:
        return self._flusher.running

    async def _flush_round(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._full.wait(), timeout=self.interval_s)
        self._full.clear()
        await self.flush()

    async def flush(self) -> None:
        """Deliver (or spool) everything buffered now; not what arrives meanwhile.

        Under load, clicks arrive during every send: draining until empty turned one flush per
        interval into one small XADD per Redis round trip (64-202/s instead of ~10/s in
        bench/viral.py). Those wait for the next round, so sends per second stay flat."""
        await self._replay_spool()
        left = len(self.events)
        while left > 0 and self.events:
            # Out of the buffer before the send: a spill may take from its head meanwhile.
            batch = self.events[: min(left, MAX_EVENTS_PER_SEND)]
            del self.events[: len(batch)]
            left -= len(batch)
            try:
                await self._send(batch)
            except BaseException:
                self.events[:0] = batch  # back at the head, for the next try
                raise

    async def _send(self, events: list[ClickRow]) -> None:
        self.sending += 1
        try:
            await self._deliver(events)
        finally:
            self.sending -= 1

    async def _deliver(self, events: list[ClickRow]) -> None:
        links, self.links = self.links, []
        if self.shards == 1:
            await self._deliver_part(events, links, None)
            return
        for shard, rows in by_shard(events, self.shards).items():
            await self._deliver_part(rows, links, shard)

    async def _deliver_part(
        self, events: list[ClickRow], links: list[str], shard: int | None
    ) -> None:
        batch = pack_batch(events)
        spool = self.spool
        if not spool.pending:
            try:
                await self.sink.send(batch, links, shard)
                CLICKS_FLUSHED.inc(len(events))
                return
            except Exception as exc:
                log.warning("clicks_spooled", events=len(events), error=repr(exc))
        await asyncio.to_thread(spool.append, batch)
        CLICKS_SPOOLED.inc(len(events))

    async def _replay_spool(self) -> None:
        spool = self.spool
        now = asyncio.get_running_loop().time()
        if not spool.pending and now < self._next_orphan_scan:
            return
        self._next_orphan_scan = now + ORPHAN_SCAN_EVERY_S
        with contextlib.suppress(Exception):  # still unreachable: the spool keeps it all
            await spool.replay(self.sink.send)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop the flusher; deliver what is left within `timeout_s`, spool what is not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Let a flush under way finish rather than cancel it: a cancelled send can leave the
        # receiving side's transaction (and, on SQLite, the write lock) open for its timeout.
        self._full.set()
        await self._flusher.stop(grace_s=timeout_s / 2)
        if self._spilling is not None:
            await self._spilling
        while self.events and loop.time() < deadline:
            try:
                await asyncio.wait_for(self.flush(), timeout=deadline - loop.time())
            except Exception as exc:  # (a timeout too) retried until the deadline
                log.warning("click_flush_on_shutdown_failed", error=repr(exc))
                await asyncio.sleep(min(0.2, self.interval_s))
        if self.events:
            # Out of time: the disk keeps them for the next start (a batch cut off mid-send
            # may be sent twice; ingest counts it once).
            await asyncio.to_thread(self.spool.append, pack_batch(self.events))
            CLICKS_SPOOLED.inc(len(self.events))
            self.events.clear()
        self.spool.close()
