"""uvicorn's server for one process: every waiting connection accepted each time the event loop
wakes, and a bounded number of requests run at once.

Accepting.
uvloop's libuv accepts one connection per event-loop iteration (libuv >= 1.45, "don't accept()
connections in a loop"). Under load an iteration serves every ready request first, ~50 ms for a
thousand cached redirects on one core, so new connections were accepted at ~20 a second and
waited in the kernel's accept queue: seconds for a stats call or a browser's first request, and
the timeouts of the overload bench (docs/performance.md). The asyncio loop accepts up to its
backlog at a time but serves redirects ~20% slower. So the listening socket gets a second
reader of its own that accepts up to ACCEPTS_PER_WAKE connections whenever it is readable and
hands each to the loop as uvicorn's own would be; libuv's one-a-time accept stays, harmless.

Running. With a thousand keep-alive connections a thousand requests are read and run in each
iteration, so anything that waits on a thread (every SQLite statement, each a round trip through
the loop) waits an iteration per step: a stats call took 4-5 s under the overload bench. At most
`concurrency` requests run at once; the rest wait their turn in arrival order, read but not
started, and their connections send nothing more meanwhile (one request at a time each). An
iteration then stays short, and a stats call among the redirects is answered in its turn.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ACCEPTS_PER_WAKE = 128  # asyncio's own batch is its backlog, 100 by default


class TaskGate:
    """At most `limit` requests running; the others started in arrival order as those end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.waiting: deque[tuple[BoundedHttpToolsProtocol, Any, Any]] = deque()

    def start(self, protocol: BoundedHttpToolsProtocol, cycle: Any, app: Any) -> None:
        if self.running >= self.limit:
            self.waiting.append((protocol, cycle, app))
            return
        self.running += 1
        protocol.start_now(cycle, app)

    def finished(self, _task: object) -> None:
        self.running -= 1
        while self.waiting and self.running < self.limit:
            protocol, cycle, app = self.waiting.popleft()
            if not protocol.transport.is_closing():  # its client gave up: nothing to answer
                self.running += 1
                protocol.start_now(cycle, app)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol (httptools), its requests started through the server's gate."""

    gate: TaskGate  # set on the subclass each server makes

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self.gate.start(self, cycle, app)

    def start_now(self, cycle: Any, app: Any) -> None:
        task = self.loop.create_task(cycle.run_asgi(app))
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(self.gate.finished)
        self.tasks.add(task)


def bounded_config(app: Any, concurrency: int, **options: Any) -> uvicorn.Config:
    """uvicorn's Config, its HTTP protocol gated to `concurrency` requests at once."""
    protocol = type("Bounded", (BoundedHttpToolsProtocol,), {"gate": TaskGate(concurrency)})
    return uvicorn.Config(app, http=protocol, **options)


class GreedyAcceptServer(uvicorn.Server):
    """A uvicorn.Server for one process (uvicorn's workers build their own)."""

    _listeners: list[socket.socket]
    _connecting: set[asyncio.Task[object]]
    # Run once the server has stopped, before uvicorn re-raises the signal that stopped it
    # (which ends the process there: no `finally` of the caller runs after `run`).
    on_stopped: Sequence[Callable[[], None]] = ()

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                for callback in self.on_stopped:
                    callback()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        loop = asyncio.get_running_loop()
        self._listeners, self._connecting = [], set()
        for server in self.servers:
            for listener in server.sockets or ():
                # A second descriptor of the same listening socket: the loop's own server
                # keeps its descriptor, and each accepts from the one queue.
                sock = socket.socket(fileno=os.dup(listener.fileno()))
                sock.setblocking(False)
                loop.add_reader(sock, self._accept_waiting, loop, sock)
                self._listeners.append(sock)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stop_accepting()
        await super().shutdown(sockets)

    def _stop_accepting(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in getattr(self, "_listeners", ()):
            loop.remove_reader(sock)
            sock.close()
        self._listeners = []

    def _accept_waiting(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, _address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none waiting
            except OSError:
                return  # aborted by the client, or out of descriptors: the loop's accept logs it
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(loop.connect_accepted_socket(self._new_protocol, conn))
            self._connecting.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[object]) -> None:
        self._connecting.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a connection reset as it was made is the client's

    def _new_protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol
