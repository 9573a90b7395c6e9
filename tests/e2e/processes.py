"""Real `surge` processes on free loopback ports, for end-to-end tests, and load onto them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import BROWSER_UA


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def surge_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}",
        SURGE_INTERNAL_TOKEN="e2e-internal-token",
        SURGE_VISITOR_SALT_SECRET="e2e-visitor-salt",
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_LOG_LEVEL="warning",
        SURGE_SPOOL_DIR=str(tmp_path / "spool"),
    )
    if server := os.environ.get("SURGE_TEST_SERVER"):  # run the process tests on that server
        env["SURGE_SERVER"] = server
    env.update(extra)
    return env


def surge_cli(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_python(env, "-m", "surge.cli", *args, input=input)


def run_python(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """This interpreter run with `args` to its end (and its output's: any child it left holding
    it too), its output captured."""
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def create_key(env: dict[str, str]) -> dict[str, str]:
    done = surge_cli(env, "keys", "create", "--name", "e2e")
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


@dataclass
class Server:
    service: str
    port: int
    process: subprocess.Popen[str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout_s: float = 60.0, path: str = "/readyz") -> None:
        """Until /readyz answers 200. The deadline only turns a hang into a failure: on a
        machine short of CPU two workers' start once took over 30 s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"surge {self.service} exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail(f"surge {self.service} not ready after {timeout_s}s:\n{self.output()}")

    @property
    def app_pid(self) -> int:
        """The process that runs the app, the one to kill to crash the service: granian's
        worker (a child of `surge serve`), or `surge serve` itself on uvicorn."""
        workers = children(self.process.pid)
        assert len(workers) <= 1, f"surge {self.service} runs {len(workers)} workers: which?"
        return workers[0] if workers else self.process.pid

    def crash(self) -> int:
        """kill -9 of the process that runs the app (no shutdown, no flush), and the server
        gone with it: granian's parent follows its dead worker out. Its exit status."""
        os.kill(self.app_pid, signal.SIGKILL)
        return self.process.wait(20)

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM (a graceful shutdown); whether it ended by it, not by a crash.

        uvicorn re-raises the signal once its graceful shutdown is done, so -SIGTERM is clean.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                pytest.fail(f"surge {self.service} ignored SIGTERM for {timeout_s}s")
        return self.process.returncode in (0, -signal.SIGTERM)


@contextmanager
def serve(
    tmp_path: Path,
    service: str,
    port: int,
    env: dict[str, str],
    *,
    ready_path: str = "/readyz",
    workers: int = 1,
) -> Iterator[Server]:
    log = tmp_path / f"{service}-{port}.log"
    argv = ["serve", "--service", service, "--port", str(port), "--workers", str(workers)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "surge.cli", *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a group of its own: its workers go with it (kill_group)
        )
    server = Server(service, port, process, log)
    try:
        server.wait_ready(path=ready_path)
        yield server
    finally:
        kill_group(process)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a server's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue  # gone meanwhile
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to read its status."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def kill_group(process: subprocess.Popen[str]) -> None:
    """Kill a process started with `start_new_session=True` and every process of its group:
    granian's (or uvicorn's) workers outlive a killed parent otherwise."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is gone already
    if process.poll() is None:
        process.wait(10)


# --- load and what it counted ------------------------------------------------------------------


async def click_concurrently(url: str, total: int, clients: int) -> list[int]:
    """`total` GETs of `url` from `clients` concurrent clients (a browser's user agent); the
    statuses answered. A client (one connection) each: one httpx client's pool shared by 50
    concurrent requests cost 5.2 s of CPU for 1000 of them (its bookkeeping per waiting
    request), a client each 0.55 s (with the run's one TLS context, tests/shared_tls.py)."""

    async def worker(count: int) -> list[int]:
        async with httpx.AsyncClient(headers={"user-agent": BROWSER_UA}) as client:
            return [(await client.get(url)).status_code for _ in range(count)]

    results = await asyncio.gather(*(worker(total // clients) for _ in range(clients)))
    return [status for statuses in results for status in statuses]


def wait_for_total(
    api: str, slug: str, key: dict[str, str], expected: int, timeout_s: float = 20
) -> None:
    """Poll the link's stats until they count `expected` clicks; fail at the deadline, or as
    soon as they count more."""
    deadline = time.monotonic() + timeout_s
    total = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{api}/api/v1/links/{slug}/stats", headers=key)
        assert response.status_code == 200, response.text
        total = response.json()["total"]
        if total == expected:
            return
        assert total < expected, f"counted {total} clicks, more than the {expected} sent"
        time.sleep(0.1)
    pytest.fail(f"stats total stayed at {total}, expected {expected}")
