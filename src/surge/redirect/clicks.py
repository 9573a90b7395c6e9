"""Click events leave the redirect process in batches, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import httpx
import orjson

from surge.data.events import ClickEvent
from surge.platform.logging import get_logger

log = get_logger(__name__)
MAX_EVENTS_PER_SEND = 5_000
MAX_BACKOFF_S = 5.0


class ClickSink(Protocol):
    async def send(self, batch: Sequence[ClickEvent]) -> None:
        """Deliver the whole batch or raise; a raised batch is sent again later."""


class HttpClickSink:
    """POSTs batches to analytics' ingest endpoint (in-process via ASGITransport in all-in-one)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, batch: Sequence[ClickEvent]) -> None:
        response = await self.client.post(
            "/internal/analytics/clicks",
            content=orjson.dumps(list(batch)),
            headers={"content-type": "application/json"},
        )
        response.raise_for_status()


class ClickBuffer:
    """Collects events from requests; a background task flushes every interval or N events.

    Delivery is at-least-once: a batch that fails stays at the head of the buffer and is retried
    with backoff; analytics ingests idempotently by event id, so a retry never double counts.
    """

    def __init__(self, sink: ClickSink, *, interval_s: float, batch_size: int, limit: int) -> None:
        self.sink = sink
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.limit = limit
        self.events: list[ClickEvent] = []
        self.dropped = 0
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, event: ClickEvent) -> None:
        events = self.events
        events.append(event)
        if len(events) >= self.batch_size:
            self._full.set()
            if len(events) > self.limit:  # analytics away for long: bound memory, oldest go first
                del events[0]
                self.dropped += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="click-flusher")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        backoff = self.interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), timeout=backoff)
            self._full.clear()
            try:
                await self.flush()
            except Exception as exc:
                backoff = min(max(backoff * 2, self.interval_s), MAX_BACKOFF_S)
                log.warning("click_flush_failed", buffered=len(self.events), error=repr(exc))
            else:
                backoff = self.interval_s

    async def flush(self) -> None:
        """Send everything buffered now; on failure the unsent rest stays buffered and it raises."""
        while self.events:
            batch = self.events[:MAX_EVENTS_PER_SEND]
            await self.sink.send(batch)
            # Events added while sending are behind the batch: drop exactly what was sent.
            del self.events[: len(batch)]

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop the flusher and deliver what is left, trying until `timeout_s`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.events:
            try:
                await self.flush()
            except Exception as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    log.error("clicks_lost_on_shutdown", count=len(self.events), error=repr(exc))
                    return
                await asyncio.sleep(min(0.2, self.interval_s))
