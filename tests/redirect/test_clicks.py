"""The click buffer: batching, and a shutdown that never cuts a send in half."""

from __future__ import annotations

import asyncio

from surge.data.events import ClickEvent, ClickRow, unpack_batch
from surge.redirect.clicks import ClickBuffer


def click(i: int) -> ClickRow:
    return (f"id-{i}", 1, "s", 1.7e9, None, None, None, "v")


class SlowSink:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.batches: list[list[ClickEvent]] = []
        self.cancelled = 0

    async def send(self, batch: bytes) -> None:
        self.started.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.batches.append(unpack_batch(batch))


async def test_batches_leave_when_full() -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=1000)
    buffer.start()
    for i in range(10):
        buffer.add(click(i))
    await asyncio.wait_for(sink.started.wait(), timeout=5)
    await buffer.close()
    assert [e.id for e in sink.batches[0]] == [f"id-{i}" for i in range(10)]


async def test_close_lets_a_send_under_way_finish_then_sends_the_rest() -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=0.01, batch_size=500, limit=1000)
    buffer.start()
    buffer.add(click(0))
    await asyncio.wait_for(sink.started.wait(), timeout=5)
    buffer.add(click(1))  # arrives while the first batch is on its way
    await buffer.close()
    assert sink.cancelled == 0
    assert [[e.id for e in batch] for batch in sink.batches] == [["id-0"], ["id-1"]]


async def test_over_the_limit_the_oldest_are_dropped_and_counted() -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=100)
    for i in range(111):
        buffer.add(click(i))
    assert len(buffer.events) == 100
    assert buffer.dropped == 11
    assert buffer.events[0][0] == "id-11"
