"""Supervised background loops: every long-running task of a service is one of these.

A loop runs its body again and again until it is stopped; a body that raises is logged under the
loop's name and run again after a backoff, so no single failure (Redis restarting, a database
away) ends it. `stop()` is bounded: it asks the loop to end, gives a body under way a grace
period to finish, then cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from surge.platform.logging import get_logger
from surge.platform.metrics import LOOP_LAST_SUCCESS, LOOP_RESTARTS, LOOP_RUNNING

log = get_logger(__name__)
BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class SupervisedLoop:
    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[object]],
        *,
        on_failure: Callable[[Exception], None] | None = None,
        backoff_s: Sequence[float] = BACKOFF_S,
    ) -> None:
        """`body` is one round of the work (it may also never return, e.g. a subscription);
        `on_failure` resets what a failed round may have left half done."""
        self.name = name
        self.body = body
        self.on_failure = on_failure
        self.backoff_s = backoff_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, *, grace_s: float = 0.0, timeout_s: float = 2.0) -> None:
        """End the loop: let a round under way finish for `grace_s`, then cancel it."""
        self._stopping.set()
        if self._task is not None and grace_s > 0:
            await asyncio.wait({self._task}, timeout=grace_s)
        await cancel_and_wait(self._task, timeout_s)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if the loop is asked to stop meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        running = LOOP_RUNNING.labels(self.name)
        running.inc()
        try:
            await self._rounds()
        finally:
            running.dec()

    async def _rounds(self) -> None:
        failures = 0
        last_success = LOOP_LAST_SUCCESS.labels(self.name)
        # The flag ends the loop even if a library call swallowed the cancellation.
        while not self._stopping.is_set():
            try:
                await self.body()
                failures = 0
                last_success.set_to_current_time()
            except Exception as exc:  # the loop must outlive any one failure
                if self.on_failure is not None:
                    self.on_failure(exc)
                delay = self.backoff_s[min(failures, len(self.backoff_s) - 1)]
                failures += 1
                LOOP_RESTARTS.labels(self.name).inc()
                log.warning("loop_retrying", loop=self.name, error=repr(exc), delay_s=delay)
                await self.sleep(delay)


async def cancel_and_wait(task: asyncio.Task[None] | None, timeout_s: float = 2.0) -> None:
    """Cancel `task` and wait for it, at most `timeout_s`.

    A library call may swallow one cancellation (redis-py's blocking reads have done so), so
    cancel again until it ends or the deadline passes; shutdown must never hang on it.
    """
    if task is None or task.done():
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.done():
        log.warning("task_did_not_stop", task=task.get_name())
    elif not task.cancelled() and task.exception() is not None:
        log.warning("task_failed", task=task.get_name(), error=repr(task.exception()))
