"""The bench's child processes: starting servers, waiting for them, stopping them, pausing one,
measuring their CPU time (and everyone else's), and running one-shot CLI commands."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from .budget import CLEANUP_RESERVE_S, BenchError, Budget, sigterm_ignored

HOST = "127.0.0.1"
T = TypeVar("T")
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    ready_status: int = 200  # what `health_path` answers once the server is up
    health_path: str = "/healthz"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1].strip()[:300]
        return "(no output)"


def free_ports(count: int) -> list[int]:
    """Ports the OS calls free; all bound at once so the same one is never handed out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def start_server(
    name: str,
    port: int,
    argv: Sequence[str],
    env: dict[str, str],
    tmp: Path,
    ready_status: int = 200,
    cwd: Path | None = None,
    health_path: str = "/healthz",
) -> Server:
    """Its log goes to `tmp`, which is also its working directory unless `cwd` is given."""
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd or tmp, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(name, port, process, log, ready_status, health_path)


def wait_ready(servers: Sequence[Server], budget: Budget) -> None:
    """Poll each server's health path until it answers; uvicorn only listens after startup."""
    deadline = time.monotonic() + min(STARTUP_TIMEOUT_S, budget.remaining() - CLEANUP_RESERVE_S)
    with httpx.Client(timeout=1.0) as client:
        for server in servers:
            while True:
                if server.process.poll() is not None:
                    raise BenchError(
                        f"{server.name} exited with code {server.process.returncode}: "
                        f"{server.last_log_line()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.get(f"{server.url}{server.health_path}")
                    if answer.status_code == server.ready_status:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"{server.name} not ready on {server.url} in time")
                time.sleep(0.05)


def stop_servers(servers: Sequence[Server]) -> None:
    """SIGTERM one at a time in reverse start order (redirect flushes to a live analytics)."""
    for server in reversed(servers):
        if server.process.poll() is not None:
            continue
        signal_tree(server.process.pid, signal.SIGCONT)  # a stopped one would not see SIGTERM
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=STOP_TIMEOUT_S)


def with_servers(work: Callable[[list[Server]], T]) -> T:
    """`work(launched)`; the servers it appends to `launched` as it starts them are stopped
    afterwards whatever happens, and a second SIGTERM cannot cut that stop short."""
    launched: list[Server] = []
    try:
        return work(launched)
    finally:
        with sigterm_ignored():
            stop_servers(launched)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (Linux); None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (granian's workers), from /proc; [] without it."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def own_pids(servers: Sequence[Server]) -> set[int]:
    """The bench's own processes: itself, its servers and their workers (not foreign CPU)."""
    found = {os.getpid()}
    pending = [s.process.pid for s in servers]
    while pending:
        pid = pending.pop()
        found.add(pid)
        pending += children(pid)
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and its descendants: `surge serve` on granian serves from a
    worker process, a child of the one started."""
    total = cpu_seconds(pid)
    if total is None:
        return None
    return total + sum(tree_cpu_seconds(child) or 0.0 for child in children(pid))


def signal_tree(pid: int, signum: int) -> None:
    """`signum` to a process and its descendants (a stopped parent still has running workers)."""
    for child in children(pid):
        signal_tree(child, signum)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def pinned(argv: Sequence[str], cpus: str | None) -> list[str]:
    """`argv` run on the CPUs `cpus` names (taskset's list, "0" or "0,2"), children included;
    as it is where `cpus` is None."""
    return ["taskset", "-c", cpus, *argv] if cpus else list(argv)


def foreign_cpu_seconds(ours: set[int]) -> dict[int, float] | None:
    """CPU time of every user-space process that is not the bench's own, by pid; None without
    /proc. Kernel threads are left out: they mostly carry our own loopback traffic."""
    if not Path("/proc/self/stat").exists():
        return None
    usage: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        with contextlib.suppress(OSError):
            seconds = cpu_seconds(int(entry.name))
            if seconds is not None and (entry / "cmdline").read_bytes():
                usage[int(entry.name)] = seconds
    return usage


def waited_for_cpu_s(pid: int) -> float | None:
    """Time the process's main thread (the event loop) was runnable but not running, from
    /proc (Linux schedstat); None where unavailable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def cpu_watch(server: Server, ours: set[int], out: dict[str, float | None]) -> Iterator[None]:
    """Cores `server` (its children included) and foreign processes used during the block, and
    the share of it the server's event loop waited for a CPU: on a shared machine, the part of
    its latency that is the machine's, not the server's."""
    pid = server.process.pid
    loop = min(children(pid), default=pid)  # granian's event loop runs in its worker
    cpu, waited, foreign = tree_cpu_seconds(pid), waited_for_cpu_s(loop), foreign_cpu_seconds(ours)
    start = time.monotonic()
    yield
    seconds = time.monotonic() - start

    def per_second(before: float | None, after: float | None) -> float | None:
        return None if before is None or after is None else round((after - before) / seconds, 2)

    out["server_cores"] = per_second(cpu, tree_cpu_seconds(pid))
    out["server_cpu_wait"] = per_second(waited, waited_for_cpu_s(loop))
    foreign_after = foreign_cpu_seconds(ours)
    out["other_cores"] = None
    if foreign is not None and foreign_after is not None:
        spent = sum(t - foreign.get(p, 0.0) for p, t in foreign_after.items())
        out["other_cores"] = round(max(0.0, spent) / seconds, 2)


def split_cpus() -> tuple[str | None, str | None]:
    """(the servers' CPU, wrk's CPUs), as taskset lists: apart where this process may run on
    two or more, else (None, None): nothing pinned."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return None, None
    return str(mine[0]), ",".join(map(str, mine[1:]))


@contextlib.contextmanager
def on_core(core: int) -> Iterator[bool]:
    """Processes started inside inherit `core` as their only CPU, their threads and workers
    too; where there is one core, nothing is pinned (yields whether it pinned)."""
    everywhere = os.sched_getaffinity(0)
    pinning = len(everywhere) > 1
    if pinning:
        os.sched_setaffinity(0, {core})
    try:
        yield pinning
    finally:
        os.sched_setaffinity(0, everywhere)


@contextlib.contextmanager
def paused(server: Server) -> Iterator[None]:
    """SIGSTOP a server for a while. On a small box analytics catching up on clicks eats a core,
    which would be taken from whichever server is measured; paused, it takes from neither."""
    with all_paused([server]):
        yield


@contextlib.contextmanager
def all_paused(servers: Sequence[Server]) -> Iterator[None]:
    """SIGSTOP servers and their children (granian's workers) for a while: idle, they still
    wake for timers and collections on the core a neighbour is being measured on."""
    for server in servers:
        signal_tree(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for server in servers:
            signal_tree(server.process.pid, signal.SIGCONT)


def run_cli(argv: Sequence[str], env: dict[str, str], cwd: Path, budget: Budget) -> str:
    budget.require(5, f"`{' '.join(argv[2:])}`")
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=min(60.0, budget.remaining() - CLEANUP_RESERVE_S),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{' '.join(argv[2:])}` timed out") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise BenchError(f"`{' '.join(argv[2:])}` failed: {lines[-1]}")
    return done.stdout
