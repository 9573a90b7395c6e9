"""The moment this server process begins its graceful shutdown, for what would hold it: a
stream that never ends by itself (the dashboard's live panels).

Servers drain open connections before they run the app's lifespan shutdown, so a stream still
open keeps a worker alive until it is killed, and the kill skips the lifespan: the redirect's
buffered clicks go unflushed. uvicorn's signal is seen by sse-starlette, which ends its
responses; granian's workers tell nobody, so `watch_granian_worker` chains the worker's own
signal handler (granian's `set_loop_signals`, run after the app is loaded) to
`server_stopping`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

_callbacks: list[Callable[[], None]] = []


def on_server_stopping(callback: Callable[[], None]) -> None:
    _callbacks.append(callback)


def forget(callback: Callable[[], None]) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


def server_stopping() -> None:
    """Tell everyone who asked; each at most once."""
    while _callbacks:
        _callbacks.pop()()


def watch_granian_worker() -> None:
    """In a granian worker, before it installs its signal handlers: SIGINT/SIGTERM then call
    `server_stopping` before granian's own handler starts draining connections."""
    import granian._signals as granian_signals

    installing: Callable[[Any], Any] = granian_signals.set_loop_signals

    def set_loop_signals(loop: Any) -> Any:
        shutdown = installing(loop)  # granian's handlers, and the event its worker waits on

        def stopping(_signum: int, _frame: object) -> None:
            server_stopping()
            shutdown.set()

        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stopping, number, None)  # replaces granian's
        return shutdown

    granian_signals.set_loop_signals = set_loop_signals
