"""A bounded in-process fan-out: every subscriber gets every item published, in order.

Publishing never waits: each subscriber has a bounded queue, and one that falls behind loses
its oldest items (counted), never the publisher's time or the process's memory. A subscriber
drains everything waiting at once, so a slow reader coalesces rather than queues. Publishing
from another thread (analytics on its side loop, surge.platform.side_loop) hands the item to
each subscriber's own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    def __init__(self, hub: FanOut[T], size: int) -> None:
        self._hub = hub
        self._items: deque[T] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0  # items lost since the last `next()`: the queue was full
        self._thread = threading.get_ident()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def _put(self, item: T) -> None:
        if self._loop is not None and threading.get_ident() != self._thread:
            # The queue and the event are the subscriber's loop's: not safe from here.
            self._loop.call_soon_threadsafe(self._put, item)
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
            self._hub.on_drop()
        self._items.append(item)  # a full deque drops its oldest
        self._ready.set()

    async def next(self, timeout_s: float | None = None) -> list[T] | None:
        """Everything published since the last call (waiting for at least one item, at most
        `timeout_s`: then []), or None once closed."""
        if not self._items and not self.closed:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return []
        if self.closed:
            return None
        items = list(self._items)
        self._items.clear()
        return items

    def close(self) -> None:
        """Stop receiving; a `next()` waiting returns None."""
        if not self.closed:
            self.closed = True
            self._hub._subscribers.discard(self)
            self._ready.set()


class FanOut(Generic[T]):
    def __init__(self, queue_size: int = 64, on_drop: Callable[[], None] | None = None) -> None:
        self.queue_size = queue_size
        self.on_drop: Callable[[], None] = on_drop or (lambda: None)
        self._subscribers: set[Subscription[T]] = set()

    def subscribe(self) -> Subscription[T]:
        subscription = Subscription(self, self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, item: T) -> None:
        for subscription in list(self._subscribers):  # one may close meanwhile (a thread)
            subscription._put(item)

    def close_all(self) -> None:
        """End every subscription (the process is stopping)."""
        for subscription in list(self._subscribers):
            subscription.close()

    def __len__(self) -> int:
        return len(self._subscribers)
