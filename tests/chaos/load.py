"""Load for the chaos suite: a driver that runs in a process of its own and records every
request (what, when sent, how long, what came back), probes from the test itself, what the
outcomes say, and the one line each scenario prints."""

from __future__ import annotations

import asyncio
import functools
import gc
import multiprocessing
import os
import ssl
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
import pytest

from tests.helpers import BROWSER_UA

# Every scenario: this many redirects per second on each replica, for LOAD_S, the fault
# injected FAULT_AT_S in and healed FAULT_S later.
RATE = 150.0
LOAD_S = 11.0  # 15 until the suite's 10 minutes ran short: 3 s before, 4 faulted, 4 after
FAULT_AT_S, FAULT_S = 3.0, 4.0

# --- load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """A stream of GETs: `rate` per second with at most `connections` in flight (open loop), or,
    without a rate, `connections` clients each asking again as soon as answered (closed loop).
    `url` is called per request when it is a function (a fresh unknown slug each time)."""

    kind: str
    url: str | Callable[[], str]
    expected: frozenset[int] = frozenset({302})
    rate: float | None = None
    connections: int = 32


class Outcome(NamedTuple):
    """One request of the load (a tuple: thousands cross a pipe from the driver's process)."""

    kind: str
    started: float  # time.monotonic() when sent
    latency_s: float
    status: int | None  # None: no answer (refused, reset, timed out)
    ok: bool  # the status was one its traffic expects
    error: str = ""
    retry_after: str | None = None
    content_type: str = ""


class Load:
    """Drives `traffic` for `duration_s` from a process of its own, so the test injects faults
    and probes meanwhile, and neither the driver's pauses nor pytest's (its heap's garbage
    collections, its threads holding the GIL) are measured as the servers' latency. Every
    request's outcome is recorded, in completion order; `started` and every outcome's time
    are time.monotonic(), one clock for both processes.

    Each connection is a client of its own: one httpx pool shared by many connections costs
    the driver time in proportion to their number (128 connections: 83 requests/s against
    ~1,000 with a client each).
    """

    def __init__(
        self, traffic: Sequence[Traffic], duration_s: float, *, timeout_s: float = 5.0
    ) -> None:
        self.traffic = traffic
        self.duration_s = duration_s
        self.timeout_s = timeout_s
        self.outcomes: list[Outcome] = []
        self.started = 0.0
        # fork: the traffic's URL functions need not be picklable.
        context = multiprocessing.get_context("fork")
        self._stopping = context.Event()
        self._results, self._sender = context.Pipe(duplex=False)
        self._process = context.Process(target=self._main, daemon=True)

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self._process.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._stopping.set()  # the test failed: do not make it wait for the whole run
        wait_s = max(0.0, self.started + self.duration_s - time.monotonic()) + self.timeout_s
        try:
            if self._results.poll(wait_s + 30):
                result = self._results.recv()
                if isinstance(result, str) and kind is None:
                    pytest.fail(f"the load driver failed:\n{result}")
                self.outcomes = [Outcome(*o) for o in result] if isinstance(result, list) else []
            elif kind is None:
                pytest.fail("the load driver did not report")
        finally:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()

    def _main(self) -> None:
        """The driver's process: the load, then its outcomes (or what went wrong) to the test."""
        gc.freeze()  # pytest's heap, inherited: never scanned (nor copied) by a collection here
        try:
            outcomes = asyncio.run(self._drive())
        except BaseException:
            self._sender.send(traceback.format_exc())
            raise
        self._sender.send([tuple(o) for o in outcomes])

    def at(self, offset_s: float) -> None:
        """Wait until `offset_s` into the load (the scenario's timeline)."""
        time.sleep(max(0.0, self.started + offset_s - time.monotonic()))

    async def _drive(self) -> list[Outcome]:
        end = self.started + self.duration_s
        # httpx loads the CA certificates for every client it makes (~25 ms each) unless given
        # a context: one for all (plain http never uses it).
        tls = ssl.create_default_context()
        async with AsyncExitStack() as stack:
            runs = []
            for traffic in self.traffic:
                clients = [
                    await stack.enter_async_context(
                        httpx.AsyncClient(
                            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                            headers={"user-agent": BROWSER_UA},
                            timeout=self.timeout_s,
                            verify=tls,
                        )
                    )
                    for _ in range(traffic.connections)
                ]
                runs.append(self._run(traffic, clients, end))
            await asyncio.gather(*runs)
        return self.outcomes

    async def _run(self, traffic: Traffic, clients: list[httpx.AsyncClient], end: float) -> None:
        if traffic.rate is None:  # closed loop: each client asks again once answered
            await asyncio.gather(*(self._closed_loop(traffic, c, end) for c in clients))
            return
        idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in clients:
            idle.put_nowait(client)
        running: set[asyncio.Task[None]] = set()

        async def one(client: httpx.AsyncClient) -> None:
            try:
                await self._one(traffic, client)
            finally:
                idle.put_nowait(client)

        for sequence in range(int(self.duration_s * traffic.rate)):
            due = self.started + sequence / traffic.rate
            if due >= end or self._stopping.is_set():
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            client = await idle.get()  # a hung server slows the offered load down, boundedly
            task = asyncio.create_task(one(client))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    async def _closed_loop(self, traffic: Traffic, client: httpx.AsyncClient, end: float) -> None:
        while time.monotonic() < end and not self._stopping.is_set():
            await self._one(traffic, client)

    async def _one(self, traffic: Traffic, client: httpx.AsyncClient) -> None:
        url = traffic.url() if callable(traffic.url) else traffic.url
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):  # httpx's is per phase, this in all
                answer: httpx.Response | Exception = await client.get(url)
        except (httpx.HTTPError, TimeoutError) as exc:
            answer = exc
        self.outcomes.append(recorded(traffic.kind, started, answer, traffic.expected))


def recorded(
    kind: str, started: float, answer: httpx.Response | Exception, expected: Iterable[int]
) -> Outcome:
    """The outcome of a request sent at `started`, answered now (or not: an exception)."""
    latency = time.monotonic() - started
    if isinstance(answer, Exception):
        return Outcome(kind, started, latency, None, False, type(answer).__name__)
    return Outcome(
        kind,
        started,
        latency,
        answer.status_code,
        answer.status_code in expected,
        retry_after=answer.headers.get("retry-after"),
        content_type=answer.headers.get("content-type", "").split(";")[0],
    )


def probe(
    kind: str,
    url: str,
    *,
    method: str = "GET",
    expected: Iterable[int] = (200,),
    timeout_s: float = 5.0,
    **options: Any,
) -> Outcome:
    """One request from the test itself (a connection of its own), recorded as the load's;
    a browser's, as the load's are, so a redirect it gets is a human click."""
    headers = {"user-agent": BROWSER_UA, **options.pop("headers", {})}
    started = time.monotonic()
    try:
        answer: httpx.Response | Exception = httpx.request(
            method, url, headers=headers, timeout=timeout_s, verify=tls_context(), **options
        )
    except httpx.HTTPError as exc:
        answer = exc
    return recorded(kind, started, answer, expected)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One for every probe: httpx loads the CA certificates for each client it makes without
    one, ~28 ms of CPU a probe, which the servers under test would be short of."""
    return ssl.create_default_context()


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 when there are no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def between(outcomes: Iterable[Outcome], start: float, end: float) -> list[Outcome]:
    """The outcomes of requests sent in [start, end) (time.monotonic())."""
    return [o for o in outcomes if start <= o.started < end]


def latency_bound(absolute_s: float, baseline_s: float, factor: float) -> float:
    """A latency bound for this run: `absolute_s`, or `factor` times what the same requests
    took without the fault earlier in the same run, whichever is larger. A machine short of CPU
    (a busy CI host, a neighbour's load) slows both; the fault must not add more than that."""
    return max(absolute_s, factor * baseline_s)


def not_ok(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.ok]


def describe(outcomes: Sequence[Outcome], limit: int = 5) -> str:
    """How many, and the first few, for a failure message."""
    shown = "\n".join(f"  {o}" for o in outcomes[:limit])
    return f"{len(outcomes)} requests:\n{shown}"


def redirects_answered(outcomes: Iterable[Outcome]) -> int:
    """Clicks the load made: its GETs that were answered with a redirect."""
    return sum(1 for o in outcomes if o.status == 302)


# --- the summary -------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a scenario prints as its one line (and appends to $SURGE_CHAOS_SUMMARY).

    failed: requests answered otherwise than their traffic expects, or not at all. Recovery:
    from the heal (the server started again, the process restarted, the load over) until the
    scenario's sign that all is well again (spools drained, the api answering, the killed
    consumer's entries claimed, the new replica ready)."""

    scenario: str
    outcomes: list[Outcome]
    clicks_sent: int
    clicks_counted: int | None
    recovery_s: float
    notes: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        failed = sum(1 for o in self.outcomes if not o.ok)
        notes = "".join(f", {name} {value}" for name, value in self.notes.items())
        return (
            f"chaos {self.scenario}: requests {len(self.outcomes)}, failed {failed}, "
            f"clicks sent {self.clicks_sent} counted {self.clicks_counted}, "
            f"recovery {self.recovery_s:.2f}s{notes}"
        )

    def emit(self) -> None:
        line = self.line()
        print(f"\n{line}")
        path = os.environ.get("SURGE_CHAOS_SUMMARY")
        if path:
            with open(path, "a") as out:
                out.write(line + "\n")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"
