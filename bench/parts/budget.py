"""How a bench fails and how long it may take: `BenchError`, the time `Budget`, and SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

CLEANUP_RESERVE_S = 12.0  # kept back from every step so cleanup always has time


class BenchError(Exception):
    """Why the benchmark could not run; printed as one line."""


class Budget:
    def __init__(self, limit_s: float) -> None:
        self.start = time.monotonic()
        self.limit_s = limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.limit_s - self.elapsed()

    def require(self, seconds: float, what: str) -> None:
        """Fail now, cleanly, rather than be killed halfway through a step."""
        if self.remaining() - CLEANUP_RESERVE_S < seconds:
            raise BenchError(f"time budget of {self.limit_s:.0f}s exhausted before {what}")


class Terminated(SystemExit):
    """A SIGTERM to the bench (e.g. from CI), raised where it is so that its cleanup runs."""

    def __init__(self) -> None:
        super().__init__(143)


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """A SIGTERM unwinds like an error, so the cleanup in `finally` still runs; a second one is
    ignored so that it cannot cut that cleanup short."""

    def handler(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_ignored() -> Iterator[None]:
    """A cleanup that a SIGTERM must not cut short (servers stopping while they flush)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
