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


async def test_a_stalled_event_loop_sheds_api_requests_but_not_redirects() -> None:
    api_lag_s, admission.api_lag_s = admission.api_lag_s, 0.1
    admission.watch_lag()
    try:
        await asyncio.sleep(0)  # let the watcher take its first timer
        assert admission.admits_api()
        time.sleep(0.3)  # the loop is stalled: CPU-bound work, no await
        await wait_for(_lag_over(admission, 0.1), what="the lag to be measured")
        assert not admission.admits_api()
        assert admission.admits_redirect()
    finally:
        await admission.stop_watching()
        admission.api_lag_s = api_lag_s
    assert admission.admits_api()  # no watcher, no lag verdict left behind
