"""Awaiting a child's exit on the loop (`surge.platform.child_process.exited`): what restarts a
dead analytics child and bounds its stop, with a pidfd on Linux and by polling elsewhere; and
what a dead child leaves in /metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from surge.platform.child_process import (
    MAX_SOCKET_PATH,
    exited,
    forget_process_metrics,
    socket_directory,
)


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


def test_a_dead_childs_live_gauges_stop_counting_and_its_counters_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/metrics sums the worker and its child (PROMETHEUS_MULTIPROC_DIR): once the child is gone
    (`forget_process_metrics`, on its exit), its loops no longer count as running, while what
    it counted (clicks recorded) still does."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    code = (
        "from surge.platform.metrics import CLICKS_RECORDED, LOOP_RUNNING\n"
        "LOOP_RUNNING.labels('click-consumer').inc()\n"
        "CLICKS_RECORDED.inc(7)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()

    def summed() -> dict[str, float]:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
        names = {"surge_loop_running", "surge_clicks_recorded_total"}
        return {
            sample.name: sample.value
            for metric in registry.collect()
            for sample in metric.samples
            if sample.name in names
        }

    assert summed() == {"surge_loop_running": 1.0, "surge_clicks_recorded_total": 7.0}
    forget_process_metrics(_pid_of(tmp_path))
    assert summed() == {"surge_clicks_recorded_total": 7.0}


def _pid_of(directory: Path) -> int:
    """The pid of the one process that wrote live gauges into `directory`."""
    (found,) = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("gauge_live*_*.db")}
    return found


def test_the_socket_goes_where_its_path_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In TMPDIR when a socket's path fits there (AF_UNIX: 104-108 bytes), in /tmp when not:
    a long TMPDIR made the child exit at once and the server fail to start."""
    short = Path(tempfile.mkdtemp(prefix="surge-t-", dir="/tmp"))  # tmp_path may be too long
    made = []
    try:
        for tmpdir in (short, tmp_path / ("x" * 100)):
            tmpdir.mkdir(exist_ok=True)
            monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
            made.append(socket_directory("analytics"))
        assert made[0].parent == short
        assert made[1].parent == Path("/tmp")
        assert all(len(bytes(d / "analytics.sock")) <= MAX_SOCKET_PATH for d in made)
    finally:
        for directory in made:
            directory.rmdir()
        short.rmdir()
