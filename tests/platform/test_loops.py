"""SupervisedLoop: outlives failures with backoff, stops on time, lets a round finish."""

from __future__ import annotations

import asyncio

import pytest

from surge.platform.loops import SupervisedLoop

TINY_BACKOFF = (0.001,)


async def wait_until(condition: asyncio.Event, timeout_s: float = 5.0) -> None:
    await asyncio.wait_for(condition.wait(), timeout=timeout_s)


async def test_a_failing_round_is_retried_after_its_reset() -> None:
    rounds = 0
    failures: list[str] = []
    recovered = asyncio.Event()

    async def body() -> None:
        nonlocal rounds
        rounds += 1
        if rounds <= 2:
            raise RuntimeError(f"round {rounds}")
        recovered.set()
        await asyncio.sleep(3600)

    loop = SupervisedLoop(
        "test", body, on_failure=lambda e: failures.append(str(e)), backoff_s=TINY_BACKOFF
    )
    loop.start()
    await wait_until(recovered)
    assert failures == ["round 1", "round 2"]
    assert loop.running
    await loop.stop()
    assert not loop.running


async def test_backoff_grows_along_its_table_and_resets_after_success() -> None:
    sleeps: list[float] = []
    outcomes = iter([False, False, False, True, False])
    done = asyncio.Event()
    loop: SupervisedLoop

    async def body() -> None:
        try:
            ok = next(outcomes)
        except StopIteration:
            done.set()
            await asyncio.sleep(3600)
            return
        if not ok:
            raise RuntimeError("no")

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    loop = SupervisedLoop("test", body, backoff_s=(0.1, 0.2))
    loop.sleep = record  # type: ignore[method-assign]
    loop.start()
    await wait_until(done)
    await loop.stop()
    assert sleeps == [0.1, 0.2, 0.2, 0.1]


async def test_stop_lets_a_round_under_way_finish_within_the_grace() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()

    loop = SupervisedLoop("test", body)
    loop.start()
    await wait_until(started)
    await loop.stop(grace_s=5.0)
    assert finished.is_set()
    assert not loop.running


async def test_stop_is_bounded_when_the_body_swallows_cancellation() -> None:
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        for _ in range(3):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass  # as a misbehaving library call might

    loop = SupervisedLoop("test", stubborn)
    loop.start()
    await wait_until(started)
    await asyncio.wait_for(loop.stop(timeout_s=2.0), timeout=5.0)
    assert not loop.running


async def test_sleep_ends_early_when_the_loop_is_stopped() -> None:
    sleeping = asyncio.Event()
    loop: SupervisedLoop

    async def body() -> None:
        sleeping.set()
        await loop.sleep(3600)

    loop = SupervisedLoop("test", body)
    loop.start()
    await wait_until(sleeping)
    # A stop with no grace would cancel; with a grace the sleep itself must return promptly.
    await asyncio.wait_for(loop.stop(grace_s=3.0), timeout=1.0)
    assert not loop.running


@pytest.mark.parametrize("grace_s", [0.0, 0.5])
async def test_stop_of_a_loop_never_started_is_a_no_op(grace_s: float) -> None:
    async def body() -> None:
        raise AssertionError("never runs")

    await SupervisedLoop("test", body).stop(grace_s=grace_s)
