"""A service on an event loop of its own, in a thread of its own, inside one process.

The all-in-one process (`surge serve`, the embedded default) runs api, redirect and analytics
together. On one event loop, every batch of clicks analytics ingests (ua-parser per click, the
SQLite transaction, the rollups) and every stats query held the loop that answers redirects for
tens to hundreds of ms: p99 = 14 x p50 at 60% of saturation (bench/all_in_one.py). On a loop of
its own the ingest can only take the GIL, which CPython hands back every switch interval, so a
redirect waits a few ms at most instead of a whole batch (docs/adr/0010-side-loop.md).

`ThreadedService` wraps a service: it starts and stops it on the side loop and its `app` forwards
each ASGI call there, `receive` and `send` running back on the caller's loop, so the services
still talk through the same in-process httpx transports, one code path with the split topology.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surge.platform.service import Service

T = TypeVar("T")
STOP_TIMEOUT_S = 10.0
# While a side loop runs, a thread that wants the GIL gets it after 1 ms, not CPython's 5: each
# time the redirects' loop waits on its sockets the side thread takes the GIL, and would keep it
# a whole interval. The redirect loop's p99 lag while ingesting 10,000 clicks in-process: 14-16
# ms at 5 ms, 9 ms at 1 ms (docs/adr/0010-side-loop.md).
SWITCH_INTERVAL_S = 0.001
_here = threading.local()


def on_side_loop() -> bool:
    """True in a side loop's thread: the loop that answers redirects is elsewhere (load shedding
    measures and counts only that one)."""
    return getattr(_here, "side", False)


class SideLoop:
    """An event loop running in a daemon thread until `close()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._switch_interval_s = sys.getswitchinterval()

    def start(self) -> None:
        ready = threading.Event()
        self._switch_interval_s = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval_s, SWITCH_INTERVAL_S))

        def run() -> None:
            _here.side = True
            loop = self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        # Daemon: a process that exits without stopping it (a test's crash) is not held open.
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        assert self.loop is not None, f"side loop {self.name} not started"
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` on the side loop from another loop (cancelling this cancels it there)."""
        return await asyncio.wrap_future(self.submit(work))

    async def close(self) -> None:
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
        self.loop = self._thread = None
        sys.setswitchinterval(self._switch_interval_s)


async def _awaited(work: Awaitable[T]) -> T:
    return await work


def _on(loop: asyncio.AbstractEventLoop, work: Awaitable[T]) -> asyncio.Future[T]:
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(work), loop))


class CrossLoopApp:
    """Pure ASGI: runs `app` on the side loop; its receive and send run on the caller's loop."""

    def __init__(self, app: ASGIApp, side: SideLoop) -> None:
        self.app = app
        self.side = side

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        home = asyncio.get_running_loop()

        async def far_receive() -> Message:
            return await _on(home, receive())

        async def far_send(message: Message) -> None:
            await _on(home, send(message))

        await self.side.run(_awaited(self.app(scope, far_receive, far_send)))


class ThreadedService:
    """`service` started, served and stopped on a side loop of its own."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.name = service.name
        self.side = SideLoop(f"{service.name}-loop")
        self._app = CrossLoopApp(service.app, self.side)

    @property
    def app(self) -> ASGIApp:
        return self._app

    async def start(self) -> None:
        self.side.start()
        try:
            await self.side.run(self.service.start())
        except BaseException:
            await self.side.close()
            raise

    async def stop(self) -> None:
        try:
            await self.side.run(self.service.stop())
        finally:
            await self.side.close()
