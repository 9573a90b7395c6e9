"""The bounded in-process fan-out the live feed runs on: every subscriber gets every item, a
slow one loses its oldest (counted), never the publisher's time."""

from __future__ import annotations

import asyncio

from surge.platform.fanout import FanOut


async def test_every_subscriber_gets_every_item_in_order() -> None:
    hub: FanOut[int] = FanOut(queue_size=8)
    first, second = hub.subscribe(), hub.subscribe()
    for item in (1, 2, 3):
        hub.publish(item)
    assert await first.next() == [1, 2, 3]  # all that waits, at once
    hub.publish(4)
    assert await first.next() == [4]
    assert await second.next() == [1, 2, 3, 4]
    assert len(hub) == 2


async def test_a_waiting_subscriber_wakes_when_an_item_comes() -> None:
    hub: FanOut[str] = FanOut()
    subscription = hub.subscribe()
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    hub.publish("click")
    assert await asyncio.wait_for(waiting, 1) == ["click"]


async def test_a_slow_subscriber_loses_its_oldest_items_and_is_told() -> None:
    lost: list[int] = []
    hub: FanOut[int] = FanOut(queue_size=3, on_drop=lambda: lost.append(1))
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish(0)
    assert await fast.next() == [0]
    for item in range(1, 6):
        hub.publish(item)  # never waits, however far behind `slow` is
    assert await slow.next() == [3, 4, 5]
    assert slow.dropped == 3  # 0, 1 and 2
    assert await fast.next() == [3, 4, 5]  # the bound is per subscriber: fast fell behind too
    assert fast.dropped == 2
    assert len(lost) == 5


async def test_a_wait_ends_at_its_timeout_with_nothing() -> None:
    hub: FanOut[int] = FanOut()
    assert await hub.subscribe().next(timeout_s=0.01) == []


async def test_closing_ends_waits_and_unsubscribes() -> None:
    hub: FanOut[int] = FanOut()
    one, other = hub.subscribe(), hub.subscribe()
    waiting = asyncio.create_task(one.next())
    await asyncio.sleep(0)
    one.close()
    assert await asyncio.wait_for(waiting, 1) is None
    assert len(hub) == 1
    hub.publish(1)  # a closed subscription gets nothing more
    assert await one.next() is None
    assert await other.next() == [1]

    stopping = asyncio.create_task(other.next())
    await asyncio.sleep(0)
    hub.close_all()  # the process stops: every stream ends
    assert await asyncio.wait_for(stopping, 1) is None
    assert len(hub) == 0


async def test_an_item_published_from_another_thread_reaches_the_subscribers_loop() -> None:
    """Analytics on its side loop tells the api's live panels (surge.platform.side_loop)."""
    hub: FanOut[str] = FanOut()
    subscription = hub.subscribe()
    waiting = asyncio.create_task(subscription.next(timeout_s=5))
    await asyncio.sleep(0)
    await asyncio.to_thread(hub.publish, "from the side loop")
    assert await waiting == ["from the side loop"]
