"""The one place Surge reads the wall clock.

Everything that needs "now" (expiry, retention, partitions, stats ranges, sessions, key expiry,
forecasts) calls `utc_now()` or `unix_time()`, or takes a `now` argument whose default comes from
here. Durations and deadlines use `time.monotonic()` instead: the wall clock may jump.

Tests pin the clock with `time-machine`, which moves these two functions together with
everything else in the process that reads the wall clock (see tests/clock.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


# The current time in seconds since the epoch. `time.time` itself, not a wrapper: the redirect
# reads it on every request, and time-machine patches the function object, so a pinned clock
# moves this name too.
unix_time = time.time
