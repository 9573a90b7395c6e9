"""The spool: durable, ordered, replayed once the sink is back, adopted after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.redirect.spool import Spool
from tests.helpers import packed


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.fail_after: int | None = None

    async def send(self, events: bytes) -> None:
        if self.fail_after is not None and len(self.received) >= self.fail_after:
            raise ConnectionError("still down")
        self.received.append(events)


async def test_replay_sends_batches_in_order_and_empties_the_file(tmp_path: Path) -> None:
    spool, sink = Spool(tmp_path, "a"), Sink()
    first, second = packed(3), packed(2)
    spool.append(first)
    spool.append(second)
    assert spool.pending
    await spool.replay(sink.send)
    assert sink.received == [first, second]
    assert not spool.pending
    assert spool.own_path.stat().st_size == 0
    spool.close()
    assert not spool.own_path.exists()  # an empty spool leaves nothing behind


async def test_a_failed_replay_keeps_the_rest_and_resumes_after_it(tmp_path: Path) -> None:
    spool, sink = Spool(tmp_path, "a"), Sink()
    batches = [packed(1) for _ in range(3)]
    for b in batches:
        spool.append(b)
    sink.fail_after = 1
    with pytest.raises(ConnectionError):
        await spool.replay(sink.send)
    assert spool.pending
    sink.fail_after = None
    await spool.replay(sink.send)
    assert sink.received == batches  # the first batch was not sent twice
    spool.close()


async def test_a_spool_left_by_a_dead_process_is_adopted_and_replayed(tmp_path: Path) -> None:
    dead = Spool(tmp_path, "dead")
    left = packed(4)
    dead.append(left)
    dead.close()  # not empty: stays on disk, unlocked, as after a crash or a failed shutdown
    assert dead.own_path.exists()

    restarted, sink = Spool(tmp_path, "restarted"), Sink()
    assert restarted.pending
    await restarted.replay(sink.send)
    assert sink.received == [left]
    assert not dead.own_path.exists()
    restarted.close()


async def test_a_live_replicas_spool_is_left_alone(tmp_path: Path) -> None:
    live = Spool(tmp_path, "live")
    live.append(packed(2))  # held with a lock while `live` runs
    other, sink = Spool(tmp_path, "other"), Sink()
    await other.replay(sink.send)
    assert sink.received == []
    assert live.own_path.stat().st_size > 0
    live.close()
    other.close()


async def test_each_append_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a")
    spool.append(packed(2))
    assert spool.own_path.read_bytes().count(b"\n") == 1
    spool.close()


async def test_a_line_torn_by_a_crash_is_skipped_not_blocking(tmp_path: Path) -> None:
    dead = Spool(tmp_path, "dead")
    good = packed(2)
    dead.append(good)
    dead.close()
    with open(dead.own_path, "ab") as torn:
        torn.write(packed(3)[:25])  # the process died in the middle of a write
    restarted, sink = Spool(tmp_path, "restarted"), Sink()
    await restarted.replay(sink.send)
    assert sink.received == [good]
    restarted.close()
