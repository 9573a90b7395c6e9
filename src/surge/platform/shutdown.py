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

import os
import signal
import sys
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def end_with_parent() -> None:
    """In a server's worker process: SIGTERM when the process that started it dies. A server
    killed outright (SIGKILL, the OOM killer) would otherwise leave its workers serving on,
    orphaned, with nothing left to stop them; this way each shuts down gracefully and flushes its
    buffered clicks. Linux only (prctl's PR_SET_PDEATHSIG); elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
