"""Background tasks that stop on time."""

from __future__ import annotations

import asyncio

from surge.platform.logging import get_logger

log = get_logger(__name__)


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
