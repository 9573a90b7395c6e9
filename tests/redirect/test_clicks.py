"""The click buffer: batching, spooling, and a shutdown that never cuts a send in half."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from surge.data.events import ClickEvent, ClickRow, pack_batch, unpack_batch
from surge.redirect.clicks import ClickBuffer, RedisStreamSink
from surge.redirect.spool import Spool
from tests.helpers import row


def click(i: int) -> ClickRow:
    return row(event_id=f"id-{i}")


class SlowSink:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.batches: list[list[ClickEvent]] = []
        self.cancelled = 0
        self.down = False

    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        self.started.set()
        if self.down:
            raise ConnectionError("down")
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.batches.append(unpack_batch(batch))

    def ids(self) -> list[str]:
        return [e.id for batch in self.batches for e in batch]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, "test")


async def test_batches_leave_when_full(spool: Spool) -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=1000, spool=spool)
    buffer.start()
    for i in range(10):
        buffer.add(click(i))
    await asyncio.wait_for(sink.started.wait(), timeout=5)
    await buffer.close()
    assert [e.id for e in sink.batches[0]] == [f"id-{i}" for i in range(10)]


async def test_close_lets_a_send_under_way_finish_then_sends_the_rest(spool: Spool) -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=0.01, batch_size=500, limit=1000, spool=spool)
    buffer.start()
    buffer.add(click(0))
    await asyncio.wait_for(sink.started.wait(), timeout=5)
    buffer.add(click(1))  # arrives while the first batch is on its way
    await buffer.close()
    assert sink.cancelled == 0
    assert [[e.id for e in batch] for batch in sink.batches] == [["id-0"], ["id-1"]]


async def test_a_flush_sends_what_was_buffered_when_it_began(spool: Spool) -> None:
    """Clicks arriving during a send wait for the next round: under steady traffic a flush is
    one send per round, not a stream of small sends (Redis commands per second stay flat)."""
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=500, limit=1000, spool=spool)
    buffer.add(click(0))
    flushing = asyncio.create_task(buffer.flush())
    await asyncio.wait_for(sink.started.wait(), timeout=5)
    buffer.add(click(1))  # arrives while the flush is sending
    await flushing
    assert sink.ids() == ["id-0"]
    assert [event[0] for event in buffer.events] == ["id-1"]
    await buffer.close()
    assert sink.ids() == ["id-0", "id-1"]


async def test_a_refused_batch_waits_in_the_spool_and_keeps_its_place(spool: Spool) -> None:
    sink = SlowSink()
    sink.down = True
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=100, spool=spool)
    for i in range(3):
        buffer.add(click(i))
    await buffer.flush()
    assert buffer.events == []
    assert spool.pending
    sink.down = False
    buffer.add(click(3))
    await buffer.flush()
    assert sink.ids() == ["id-0", "id-1", "id-2", "id-3"]
    await buffer.close()


async def test_over_the_limit_the_oldest_go_to_disk_not_away(spool: Spool) -> None:
    sink = SlowSink()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=10, limit=100, spool=spool)
    for i in range(101):
        buffer.add(click(i))
    assert len(buffer.events) == 51  # the oldest 50 left for the spool
    await buffer.close()
    assert sink.ids() == [f"id-{i}" for i in range(101)]  # all of them, in order


class ShardRecorder:
    """A sharded sink: which links' clicks each shard was sent."""

    def __init__(self) -> None:
        self.links: dict[int | None, list[int]] = {}

    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        self.links.setdefault(shard, []).extend(e.link_id for e in unpack_batch(batch))


async def test_a_sharded_buffer_sends_each_shard_its_links_clicks(spool: Spool) -> None:
    sink = ShardRecorder()
    buffer = ClickBuffer(sink, interval_s=60, batch_size=100, limit=1000, spool=spool, shards=3)
    for link_id in range(9):
        buffer.add(row(link_id))
    await buffer.flush()
    assert sink.links == {0: [0, 3, 6], 1: [1, 4, 7], 2: [2, 5, 8]}
    await buffer.close()


class Streams:
    """What RedisStreamSink asks of Redis without replicas to wait for: XADD."""

    def __init__(self) -> None:
        self.links: dict[str, list[int]] = {}

    async def xadd(self, stream: str, fields: dict[str, bytes]) -> None:
        events = unpack_batch(fields["events"])
        self.links.setdefault(stream, []).extend(e.link_id for e in events)


async def test_a_batch_of_no_known_shard_is_split_by_link() -> None:
    """A batch spooled before it was split (or by a version without shards) is replayed to
    the streams of its links."""
    redis = Streams()
    sink = RedisStreamSink(redis, ["clicks", "clicks:1"])  # type: ignore[arg-type]
    await sink.send(pack_batch([row(1), row(2), row(3), row(4)]))
    await sink.send(pack_batch([row(5)]), shard=1)
    assert redis.links == {"clicks": [2, 4], "clicks:1": [1, 3, 5]}
