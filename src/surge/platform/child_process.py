"""A service run in a process of its own, on a Unix socket, supervised by the process that serves
the rest: the all-in-one's analytics (docs/adr/0016-analytics-in-a-child-process.md).

The child's interpreter is spawned early (`spawn`, when the service is built), so it imports on
another core while the parent builds the rest; it then waits for its settings on stdin, given by
`start`, which also waits until it is ready. A child spawned but never started reads EOF when the
parent closes the pipe or exits, and ends. The child is restarted (after a backoff) if it dies
while the parent serves on, and stopped after the parent's other services: SIGTERM, a bounded
wait, then SIGKILL.
It runs in a session of its own, so a terminal's Ctrl-C reaches only the parent, which stops its
redirects first (their last clicks flushed to the child) and the child after. A child whose
parent dies gets SIGTERM (`surge.platform.shutdown.end_with_parent`, in the child).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import multiprocess
from surge.platform.problems import DEPENDENCY_UNAVAILABLE, PROBLEM_CONTENT_TYPE

log = get_logger(__name__)
READY_POLL_S = 0.05
EXIT_POLL_S = 0.1  # where no pidfd tells a child's exit (not Linux): how often to look
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


# A Unix socket's path must fit in sun_path: 108 bytes on Linux, 104 on macOS.
MAX_SOCKET_PATH = 104


def socket_directory(name: str) -> Path:
    """A new private directory for the child's socket: in TMPDIR, or in /tmp where TMPDIR is
    too long a path for the socket to be bound in it (the child would exit at once)."""
    directory = Path(tempfile.mkdtemp(prefix=f"surge-{name}-"))
    if len(bytes(directory / f"{name}.sock")) > MAX_SOCKET_PATH:
        directory.rmdir()
        directory = Path(tempfile.mkdtemp(prefix=f"surge-{name}-", dir="/tmp"))
    return directory


class ChildProcessExited(RuntimeError):
    pass


class ChildProcess:
    """`python -m <module> --uds <socket>` as the service `name`: reached through `transport()`
    (and `app`, an ASGI proxy for requests that arrive on the parent's port)."""

    def __init__(
        self,
        name: str,
        module: str,
        *,
        ready_timeout_s: float,
        stop_timeout_s: float,
        stdin: bytes = b"",
    ) -> None:
        """`stdin`: what the child reads on its standard input (its settings), then EOF."""
        self.name = name
        self.stdin = stdin
        self.module = module
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.directory = socket_directory(name)
        self.socket = self.directory / f"{name}.sock"
        # Removed by `stop`, or when dropped or at exit if never started (an app built, not served).
        self._remove_directory = weakref.finalize(
            self, shutil.rmtree, self.directory, ignore_errors=True
        )
        # A plain Popen, not asyncio's: the first child is spawned while the app is built, before
        # any event loop runs (granian builds it first); restarts take the same path.
        self.process: subprocess.Popen[bytes] | None = None
        self._supervisor = SupervisedLoop(
            f"{name}-process", self._run_once, backoff_s=RESTART_BACKOFF_S
        )
        self._client: httpx.AsyncClient | None = None
        self._app = UnixSocketProxy(self)

    @property
    def app(self) -> ASGIApp:
        return self._app

    def transport(self) -> httpx.AsyncHTTPTransport:
        """A transport to the child (made before the child runs: it connects on first use).
        Plain HTTP on a Unix socket: its TLS context trusts nothing (a handshake could only
        fail), instead of httpx's default, the CA bundle loaded anew for each transport: 20-37 ms
        of CPU, three at every start."""
        return httpx.AsyncHTTPTransport(
            uds=str(self.socket), verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        )

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport(), base_url="http://child", timeout=None
            )
        return self._client

    def spawn(self) -> None:
        """The child's interpreter, now: it imports what it runs (a second or so, on another core
        while this process builds the rest), then waits for its settings, which `start` gives."""
        self.socket.unlink(missing_ok=True)
        argv: Sequence[str] = (sys.executable, "-m", self.module, "--uds", str(self.socket))
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)

    async def start(self) -> None:
        """The child started and ready, or an exception saying why not (the server then does
        not start: a first start that fails is a configuration to fix, not to retry)."""
        if self.process is None:
            self.spawn()
        await self._started()
        self._supervisor.start()

    async def _started(self) -> None:
        """The spawned child given its settings, then waited for until it is ready."""
        process = self.process
        assert process is not None
        assert process.stdin is not None
        try:
            # A few KB, into an empty pipe (64 KiB on Linux, 16 KiB or more on macOS): the
            # write does not block the loop even while the child is still importing.
            process.stdin.write(self.stdin)
            process.stdin.close()
        except BrokenPipeError:  # it exited already: said below, with its status
            pass
        deadline = time.monotonic() + self.ready_timeout_s
        while not await self._answers_ready():
            if process.poll() is not None:
                raise ChildProcessExited(f"{self.name} process exited {process.returncode}")
            if time.monotonic() > deadline:
                await self._end(process)
                raise TimeoutError(f"{self.name} process not ready in {self.ready_timeout_s} s")
            await asyncio.sleep(READY_POLL_S)
        log.info("child_process_ready", service=self.name, pid=process.pid)

    async def _answers_ready(self) -> bool:
        try:
            answer = await self.client.get("/readyz", timeout=1.0)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    async def _run_once(self) -> None:
        """A supervised round: wait for the child; if it ends while the parent serves on,
        start another (the redirect keeps the clicks meanwhile: buffer, then spool)."""
        if self.process is None or self.process.returncode is not None:
            self.spawn()
            await self._started()
        assert self.process is not None
        code = await exited(self.process)
        forget_process_metrics(self.process.pid)
        if not self._supervisor.stopping:  # counted in surge_loop_restarts{loop="<name>-process"}
            raise ChildProcessExited(f"{self.name} process exited {code} (restarting it)")

    async def stop(self) -> None:
        await self._supervisor.stop(timeout_s=1.0)  # first: it would start another child
        if self.process is not None:
            await self._end(self.process)
        if self._client is not None:
            await self._client.aclose()
        self._remove_directory()

    async def _end(self, process: subprocess.Popen[bytes]) -> None:
        if process.stdin is not None:
            process.stdin.close()  # a child never started reads EOF (it then ends by itself)
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(exited(process), self.stop_timeout_s)
        except TimeoutError:
            log.warning("child_process_killed", service=self.name, pid=process.pid)
            process.kill()
            await exited(process)
        forget_process_metrics(process.pid)


async def exited(process: subprocess.Popen[bytes]) -> int:
    """The child's exit status, once it has exited (and been reaped), awaited on the loop.

    On Linux a pidfd becomes readable when the child exits: no thread, no polling, and the wait
    is cancelled like any other (a thread blocked in `Popen.wait` could not be, and would hold
    the interpreter's exit until the child ended). Elsewhere (macOS), `poll()` every
    EXIT_POLL_S; a restart or a stop notices a tenth of a second later."""
    if process.poll() is not None:
        return process.returncode
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd here (or the child is gone): poll
        while process.poll() is None:
            await asyncio.sleep(EXIT_POLL_S)
        return process.returncode
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(pidfd, on_readable)
    try:
        if process.poll() is None:  # not exited between the look above and the pidfd
            await readable
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()  # exited: reaps it at once


def forget_process_metrics(pid: int) -> None:
    """With metrics summed over processes (PROMETHEUS_MULTIPROC_DIR): a dead child's live
    gauges no longer count; its counters still do."""
    if multiprocess():
        from prometheus_client import multiprocess as prometheus_multiprocess

        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class UnixSocketProxy:
    """Pure ASGI: an HTTP request forwarded to the child as it came, its answer streamed back."""

    def __init__(self, child: ChildProcess) -> None:
        self.child = child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        request = self.child.client.build_request(
            scope["method"],
            httpx.URL(path=scope["path"], query=scope.get("query_string", b"")),
            headers=[(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP],
            content=bytes(body),
        )
        try:
            answer = await self.child.client.send(request, stream=True)
        except httpx.TransportError:
            await send_unavailable(send, self.child.name)
            return
        try:
            headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in HOP_BY_HOP]
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": headers}
            )
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await answer.aclose()


HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"host"})


async def send_unavailable(send: Send, name: str) -> None:
    body = DEPENDENCY_UNAVAILABLE.body(f"The {name} process is restarting.")
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"retry-after", b"1"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
