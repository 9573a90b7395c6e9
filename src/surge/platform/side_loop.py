"""A service on an event loop of its own, in a thread of its own, inside one process.

The all-in-one process (`surge serve`, the embedded default) runs api, redirect and analytics
together. On one event loop, whatever analytics does between two awaits (a slice of a batch's
enrichment, building a stats answer, a webhook round) holds the loop that answers redirects. On a
loop of its own it can only hold the GIL, which CPython hands over every switch interval (5 ms).
A thread shares one core's worth of Python with the redirects: it bounds how long analytics
holds them, not how much CPU it takes (docs/adr/0010-side-loop.md).

`ThreadedService` wraps a service: it starts and stops it on the side loop and its `app` forwards
each ASGI call there, `receive` and `send` running back on the caller's loop, so the services
still talk through the same in-process httpx transports, one code path with the split topology.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surge.platform.service import Service

T = TypeVar("T")
STOP_TIMEOUT_S = 10.0
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

    def start(self) -> None:
        ready = threading.Event()

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
