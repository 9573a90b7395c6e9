"""Load shedding on event-loop lag: a process short of CPU sheds API work, never redirects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from surge.platform.admission import Admission, admission
from tests.helpers import wait_for


def _lag_over(admission: Admission, seconds: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return admission.lag_s > seconds

    return check


async def test_one_stall_of_the_event_loop_sheds_nothing() -> None:
    """A first request that loads a parser, or a garbage collection, stalls the loop once."""
    api_lag_s, admission.api_lag_s = admission.api_lag_s, 0.1
    admission.watch_lag()
    try:
        await asyncio.sleep(0)  # let the watcher take its first timer
        time.sleep(0.3)  # the loop is stalled once: CPU-bound work, no await
        await wait_for(_lag_over(admission, 0.1), what="the lag to be measured")
        assert admission.admits_api()
    finally:
        await admission.stop_watching()
        admission.api_lag_s = api_lag_s


async def test_a_loop_short_of_cpu_sheds_api_requests_but_not_redirects() -> None:
    api_lag_s, admission.api_lag_s = admission.api_lag_s, 0.1
    admission.watch_lag()

    async def stalled_again_and_shedding() -> bool:
        time.sleep(0.3)  # CPU-bound work again and again: the loop is short of CPU
        await asyncio.sleep(0)
        return not admission.admits_api()

    try:
        await asyncio.sleep(0)
        assert admission.admits_api()
        await wait_for(stalled_again_and_shedding, what="sustained lag to shed API requests")
        assert admission.sustained_lag_s > 0.1
        assert admission.admits_redirect()
    finally:
        await admission.stop_watching()
        admission.api_lag_s = api_lag_s
    assert admission.admits_api()  # no watcher, no lag verdict left behind
