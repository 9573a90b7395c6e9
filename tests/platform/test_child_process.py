"""Awaiting a child's exit on the loop (`surge.platform.child_process.exited`): what restarts a
dead analytics child and bounds its stop, with a pidfd on Linux and by polling elsewhere."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from surge.platform.child_process import exited


def child(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


@pytest.fixture(params=["pidfd", "polling"])
def waits_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "polling":  # as on macOS: no os.pidfd_open
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd here")
    return str(request.param)


async def test_the_exit_status_once_the_child_has_exited(waits_by: str) -> None:
    process = child(0.2)
    assert await asyncio.wait_for(exited(process), 10) == 0
    assert process.returncode == 0  # reaped: no zombie left
    assert await exited(process) == 0  # and asked again, at once


async def test_a_wait_is_cancelled_and_leaves_the_child_to_its_stop(waits_by: str) -> None:
    process = child(30)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(exited(process), 0.2)
        process.terminate()
        assert await asyncio.wait_for(exited(process), 10) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait()
