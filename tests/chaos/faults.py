"""Fault injection for the chaos suite, in one place: servers of the test's own to stop, start
and hang (ClickHouse's, a ServerProcess too, is in tests/clickhouse.py beside the other tests'
ClickHouse), signals to surge processes, and waiting on conditions (the load driver and what it
measured are in tests/chaos/load.py).

The machine's shared PostgreSQL and Redis are never stopped: a scenario that stops one runs its
own here, on a free port, in a directory of its own.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.e2e.processes import free_port

# --- programs ----------------------------------------------------------------------------------


def unavailable(message: str) -> NoReturn:
    """Skip, saying what is missing; fail where SURGE_REQUIRE_SERVICES=1 (CI must not pass by
    skipping), as tests/services.py does."""
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def require_program(name: str, *, search: Iterable[str] = ()) -> str:
    """The program's path: on PATH, else the first of `search` that exists."""
    found = shutil.which(name) or next((p for p in search if os.access(p, os.X_OK)), None)
    if found is None:
        unavailable(f"{name} is not installed: the chaos suite runs a server of its own")
    return found


def postgres_program(name: str) -> str:
    """initdb, pg_ctl: Debian keeps them off PATH, in /usr/lib/postgresql/<version>/bin."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    return require_program(name, search=[f"{d}/{name}" for d in reversed(versions)])


# --- waiting -----------------------------------------------------------------------------------


def wait_until(
    check: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> float:
    """Poll `check` until it holds; the seconds it took. Fails the test at the deadline."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)
    return time.monotonic() - start


# --- Redis -------------------------------------------------------------------------------------


class ServerProcess:
    """A server of the test's own, one process on a free port with a directory of its own:
    started (`start`, each kind its own), hung (SIGSTOP) and continued, killed."""

    def __init__(self, program: str, directory: Path) -> None:
        self.program = program
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    def start(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        assert self.process is not None
        pause(self.process)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        resume(self.process)
        self.paused = False

    def ensure_up(self) -> None:
        """Running and answering, whatever a failed scenario left it as."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        elif self.paused:
            self.resume()

    def kill(self) -> None:
        """SIGKILL: the port closes and open connections are reset at once."""
        assert self.process is not None
        resume(self.process)  # a stopped process holds SIGKILL until it is continued
        self.paused = False
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


class RedisServer(ServerProcess):
    """A redis-server of the test's own. Append-only with an fsync per write, as a Redis holding
    a click stream is run in production: stopping and starting it loses nothing it
    acknowledged (an empty restart is tests/e2e/test_spool.py's case)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(require_program("redis-server"), directory)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        client = Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.program,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
                *("--logfile", str(self.directory / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout_s=15, what=f"redis-server on :{self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis syncs its append-only file and exits."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(20)


# --- PostgreSQL --------------------------------------------------------------------------------


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (initdb, pg_ctl), to stop and start at will.

    PostgreSQL refuses to run as root, so under root it runs as the `postgres` user, in a
    directory outside pytest's (root-only) temporary tree."""

    def __init__(self) -> None:
        self.initdb = postgres_program("initdb")
        self.pg_ctl = postgres_program("pg_ctl")
        self.port = free_port()
        self.user: str | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="surge-chaos-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.directory)
                unavailable("no `postgres` user: PostgreSQL will not run as root")
            self.user = owner.pw_name
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.data = self.directory / "data"
        self.running = False
        self.hung: list[int] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            args,
            user=self.user,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def init(self) -> None:
        self._run(
            self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        # Durability is not what is under test, and fsync would slow every scenario down.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.directory}'\nmax_connections = 200\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def replicate(self, primary: PostgresCluster) -> None:
        """Instead of `init`: a streaming standby of `primary` (pg_basebackup -R, which relies on
        initdb's trust entries for replication from 127.0.0.1)."""
        self._run(
            postgres_program("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:  # later lines win
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.directory}'\n")

    def start(self) -> None:
        log = str(self.directory / "postgres.log")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", log, "-w", "-t", "30", "start")
        self.running = True

    def stop(self) -> None:
        """A fast shutdown: every client is disconnected, the port closes."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        self.running = False

    def ensure_up(self) -> None:
        if not self.running:
            self.start()
        self.resume()

    def processes(self) -> list[int]:
        """The postmaster's pid and its children's (backends, replication, background)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if parent == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def hang(self) -> None:
        """Every process of the cluster stopped (SIGSTOP): connections open, nothing answers."""
        self.hung = self.processes()
        for pid in self.hung:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.hung:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.hung = []

    def close(self) -> None:
        self.resume()
        if self.running:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.directory, ignore_errors=True)


# --- processes ---------------------------------------------------------------------------------


def pause(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGSTOP)


def resume(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGCONT)
