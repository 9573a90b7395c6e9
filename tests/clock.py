"""Pinned time for tests: "now" is an input, never the day the suite happens to run.

A test that depends on the date takes the `now` fixture (tests/conftest.py): the process's wall
clock is moved there with time-machine (ticking, so timeouts still pass), before any other
fixture of the test starts an app. `surge.platform.clock`, `datetime.now`, `time.time` and the
local time zone all follow; `time.monotonic` (the event loop's clock) does not move.

- A test marked `calendar` runs at every instant of `CALENDAR`: the edges where date arithmetic
  breaks (a month's last and first minute, a year's last seconds, a leap day, a day on which a
  European and a US zone change their clocks, each with that zone as the local one).
- Any other test that takes `now` runs at `DEFAULT_NOW`, or at `SURGE_TEST_NOW` (an ISO time)
  when set, so the whole suite can be run at a chosen instant.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

CALENDAR: dict[str, datetime] = {
    "month-last-minute": datetime(2027, 4, 30, 23, 59, 10, tzinfo=UTC),
    "month-first-minute": datetime(2027, 5, 1, 0, 0, 20, tzinfo=UTC),
    "year-last-seconds": datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC),
    "leap-day": datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    # Berlin's clocks go from 02:00 to 03:00 at 01:00 UTC; an hour into the new time.
    "europe-spring-forward": datetime(2027, 3, 28, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    # New York's go from 02:00 back to 01:00 at 06:00 UTC; the second 01:30 of the night.
    "us-fall-back": datetime(2027, 11, 7, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
}
DEFAULT_NOW = datetime(2027, 6, 15, 10, 30, tzinfo=UTC)


def pinned_now() -> datetime:
    """The instant a test that takes `now` (and is not a calendar test) runs at."""
    chosen = os.environ.get("SURGE_TEST_NOW")
    if not chosen:
        return DEFAULT_NOW
    instant = datetime.fromisoformat(chosen)
    if instant.tzinfo is None:
        raise ValueError(f"SURGE_TEST_NOW={chosen!r} needs a time zone (e.g. Z or +00:00)")
    return instant
