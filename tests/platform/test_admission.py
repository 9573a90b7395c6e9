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


async def _stalled_until(condition: Callable[[], bool], what: str) -> None:
    async def stalled_again() -> bool:
        time.sleep(0.3)  # CPU-bound work again and again: the loop is short of CPU
        await asyncio.sleep(0)
        return condition()

    await wait_for(stalled_again, what=what)


async def test_a_loop_short_of_cpu_sheds_api_requests_past_a_reserve_not_redirects() -> None:
    api_lag_s, admission.api_lag_s = admission.api_lag_s, 0.1
    reserve, admission.api_reserve = admission.api_reserve, 2
    admission.watch_lag()
    try:
        await asyncio.sleep(0)
        admission.api_in_flight = 2  # the operator's reserve is in use
        assert admission.admits_api()
        await _stalled_until(lambda: not admission.admits_api(), "sustained lag to shed the API")
        assert admission.sustained_lag_s > 0.1
        admission.api_in_flight = 1
        assert admission.admits_api()  # an operator still gets a call through
        assert admission.admits_redirect()
        assert not admission.sheds_redirects  # under the redirects' own bound
    finally:
        await admission.stop_watching()
        admission.api_lag_s, admission.api_reserve, admission.api_in_flight = api_lag_s, reserve, 0
    assert admission.admits_api()  # no watcher, no lag verdict left behind


async def test_a_loop_far_behind_sheds_redirects_until_it_catches_up() -> None:
    redirect_lag_s, admission.redirect_lag_s = admission.redirect_lag_s, 0.1
    admission.watch_lag()
    try:
        await asyncio.sleep(0)
        assert not admission.sheds_redirects
        await _stalled_until(lambda: admission.sheds_redirects, "sustained lag to shed redirects")
        await wait_for(_caught_up, what="the redirects to be admitted again")
    finally:
        await admission.stop_watching()
        admission.redirect_lag_s = redirect_lag_s
    assert not admission.sheds_redirects


async def _caught_up() -> bool:
    return not admission.sheds_redirects
