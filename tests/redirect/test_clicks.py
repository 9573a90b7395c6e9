"""The click buffer: batching, and a shutdown that never cuts a send in half."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from surge.data.events import ClickEvent, ClickRow, unpack_batch
from surge.redirect.clicks import ClickBuffer
from surge.redirect.spool import Spool


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


async def test_over_the_limit_with_a_spool_the_oldest_go_to_disk_not_away(tmp_path: Path) -> None:
    sink = SlowSink()
    spool = Spool(tmp_path, "spill")
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=100, spool=spool)
    for i in range(101):
        buffer.add(click(i))
    assert len(buffer.events) == 51  # the oldest 50 left for the spool
    await buffer.close()
    assert buffer.dropped == 0
    delivered = [e.id for batch in sink.batches for e in batch]
    assert sorted(delivered) == sorted(f"id-{i}" for i in range(101))
    assert delivered[:50] == [f"id-{i}" for i in range(50)]  # spilled ones first: order kept


async def test_a_failed_send_puts_the_batch_back_at_the_head() -> None:
    class Down:
        async def send(self, batch: bytes) -> None:
            raise ConnectionError("down")

    buffer = ClickBuffer(Down(), interval_s=60, batch_size=10, limit=100)
    for i in range(3):
        buffer.add(click(i))
    with pytest.raises(ConnectionError):
        await buffer.flush()
    assert [row[0] for row in buffer.events] == ["id-0", "id-1", "id-2"]
