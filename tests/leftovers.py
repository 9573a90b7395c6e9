"""Nothing left behind: after the whole run, no process the tests started is alive and no test
database of this run remains.

Each run has an id, put in the environment (`SURGETESTS_RUN`) before any test starts: every
process a test starts inherits it (servers, workers, Redis, nginx, Prometheus, browsers), even
one orphaned when its parent was killed. At the end the run looks for it in /proc. Test
databases carry the id in their names (tests/services.py).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

RUN_VARIABLE = "SURGETESTS_RUN"
GRACE_S = 10.0  # processes in a graceful shutdown that a test's teardown began


def run_id() -> str:
    """This run's id, made once by the first process of the run (xdist workers inherit it)."""
    if RUN_VARIABLE not in os.environ:
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex[:8]
    return os.environ[RUN_VARIABLE]


def _describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"{pid} (gone)"
    command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return f"{pid} {command[:200]}"


def _processes_of_run(marker: bytes, spared: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != "Z" and marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def processes_left(spared: set[int]) -> list[str]:
    """The run's processes still alive after a grace period, each described; they are killed.
    `spared`: the test runner's own processes."""
    marker = f"{RUN_VARIABLE}={run_id()}".encode()
    deadline = time.monotonic() + GRACE_S
    while (alive := _processes_of_run(marker, spared)) and time.monotonic() < deadline:
        time.sleep(0.2)
    described = [_describe(pid) for pid in alive]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return described


def database_prefix() -> str:
    """The name prefix of this run's test databases."""
    return f"surge_t_{run_id()}_"
