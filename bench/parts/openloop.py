"""Open-loop constant-rate load over keep-alive connections, latency from each intended send time.

Neither wrk2, oha nor vegeta is available here (no Debian package, nothing on PyPI), so this is a
small asyncio generator: raw HTTP/1.1 like the fallback client in parts/load.py, but on protocols
rather than streams (no coroutine per request: about 0.25 cores at 12k req/s here, which matters
on 2 cores) and open loop. Request i is due at start + i / rate whatever the responses do; it
goes out on an idle keep-alive connection, or waits for one when all are busy. Its latency
counts from when it was due, not from when it was sent, so a server stall delays and charges
every request due during it (this corrects coordinated omission, as wrk2 does).

The generator checks itself. For each request it knows when it was due, when the generator first
saw it due (later only by its own delay: timer tick, CPU contention) and when it was sent (later
still only if every connection was busy, i.e. the server was behind). If the generator itself
was late for more than a small share of the requests, the latency figures are partly its own and
`keeps_up` is False; latencies counted from when it saw each request due (`p99_lower_ms`) leave
its delays out, a lower bound of the server's.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from .budget import BenchError
from .load import _CONTENT_LENGTH  # one parser of the response head for both clients

# Sent this long after its due time, a request is late. The event loop's timer resolution is
# 1 ms (epoll), so up to ~1 ms is the tick, not the generator falling behind.
LATE_S = 0.002
MAX_OWN_LATE_SHARE = 0.01  # late through the generator's own fault above this: figures invalid
DRAIN_TIMEOUT_S = 10.0  # after the last due time, for the responses still outstanding


@dataclass
class OpenLoad:
    intended_rps: float
    achieved_rps: float  # requests sent during the measured window, per second
    redirects: int  # 3xx answers, warmup included: each one recorded a click
    measured: int  # answered requests that were due in the measured window
    errors: int  # not a 3xx, connection lost with a request in flight, or never answered
    p50_ms: float  # latency from the intended send time
    p99_ms: float
    p999_ms: float
    p99_lower_ms: float  # from when the generator saw each request due: without its own delays
    max_ms: float
    service_p50_ms: float  # from the actual send: what a closed-loop client would report
    service_p99_ms: float
    lag_p50_ms: float  # due time -> on the wire, the generator's own delay included
    lag_p99_ms: float
    late: int  # measured requests sent more than LATE_S after they were due
    late_own: int  # measured requests the generator itself saw more than LATE_S after they were due
    queued: int  # measured requests that found every connection busy: the server was behind
    connections: int
    client_cores: float  # CPU the generator used over the run
    keeps_up: bool


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight (no pipelining, as wrk2)."""

    def __init__(self, pacer: _Pacer) -> None:
        self.pacer = pacer
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = self.seen = self.sent = 0.0  # of the request in flight
        self.in_flight = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pacer.idle.append(self)
        self.pacer.pump()

    def send(self, due: float, seen: float, now: float, request: bytes) -> None:
        assert self.transport is not None
        self.due, self.seen, self.sent, self.in_flight = due, seen, now, True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = _CONTENT_LENGTH.search(self.buffer, 0, end + 4)
        size = end + 4 + (int(length.group(1)) if length else 0)
        if len(self.buffer) < size:
            return
        ok = self.buffer[9:10] == b"3"  # "HTTP/1.1 302 ...": only a redirect is a success
        self.buffer = self.buffer[size:]
        self.in_flight = False
        self.pacer.answered(self, time.perf_counter(), ok)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pacer.lost(self)


class _Pacer:
    """Makes requests due on schedule and hands them to idle connections; keeps the samples."""

    def __init__(
        self,
        url: str,
        rate: float,
        warmup_s: float,
        seconds: float,
        paths: Sequence[str] | None = None,
    ) -> None:
        parts = httpx.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        # Request i asks for paths[i % len(paths)]: a traffic mix is a list in which each path
        # appears as often as its share (bench/viral.py: weighted_paths). Built once, up front.
        self.requests = [
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
            for path in (paths or [parts.raw_path.decode()])
        ]
        self.rate, self.interval = rate, 1.0 / rate
        self.total = max(1, round((warmup_s + seconds) * rate))
        self.warmup_s = warmup_s
        self.start = self.measure_from = self.end = 0.0
        self.scheduled = 0  # requests that have come due so far
        # (due, seen due, number) of the requests not yet sent
        self.backlog: collections.deque[tuple[float, float, int]] = collections.deque()
        self.idle: collections.deque[_Connection] = collections.deque()  # FIFO: all stay warm
        self.finished: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.reconnects: set[asyncio.Task[None]] = set()
        self.connections: list[_Connection] = []
        self.redirects = self.errors = self.sent_in_window = self.late = self.late_own = 0
        self.queued = 0
        self.connect_errors = 0
        self.latencies: list[float] = []
        self.services: list[float] = []
        self.lags: list[float] = []
        self.lower: list[float] = []

    def begin(self) -> None:
        self.start = time.perf_counter()
        self.measure_from = self.start + self.warmup_s
        self.end = self.start + self.total * self.interval
        self.pump()

    def pump(self) -> None:
        """Queue what has come due, send it on idle connections, and arm the timer for the next."""
        if not self.start or self.finished is None or self.finished.done():
            return
        now = time.perf_counter()
        due_count = min(self.total, int((now - self.start) * self.rate) + 1)
        while self.scheduled < due_count:
            self.backlog.append((self.start + self.scheduled * self.interval, now, self.scheduled))
            self.scheduled += 1
        requests = self.requests
        while self.backlog and self.idle:
            due, seen, number = self.backlog.popleft()
            self.idle.popleft().send(due, seen, now, requests[number % len(requests)])
            if due >= self.measure_from and now <= self.end:
                self.sent_in_window += 1
        if self.scheduled < self.total and self.timer is None:
            delay = self.start + self.scheduled * self.interval - now
            self.timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._tick)
        self._check_done()

    def _tick(self) -> None:
        self.timer = None
        self.pump()

    def answered(self, conn: _Connection, now: float, ok: bool) -> None:
        if ok:
            self.redirects += 1
        else:
            self.errors += 1
        if ok and conn.due >= self.measure_from:
            self.latencies.append(now - conn.due)
            self.lower.append(now - conn.seen)
            self.services.append(now - conn.sent)
            self.lags.append(conn.sent - conn.due)
            self.late += conn.sent - conn.due > LATE_S
            self.late_own += conn.seen - conn.due > LATE_S
            self.queued += conn.sent > conn.seen  # not sent by the pump that saw it due
        self.idle.append(conn)
        self.pump()

    def lost(self, conn: _Connection) -> None:
        """A connection closed under us: count its request, reconnect, as wrk does."""
        if conn.in_flight:
            conn.in_flight = False
            self.errors += 1
        if conn in self.idle:
            self.idle.remove(conn)
        if self.finished is not None and not self.finished.done():
            task = asyncio.get_running_loop().create_task(self.connect())
            self.reconnects.add(task)
            task.add_done_callback(self.reconnects.discard)
        self._check_done()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.connect_errors += 1  # not a request: kept out of the count that ends the run
            return
        self.connections.append(conn)

    def _check_done(self) -> None:
        if self.finished is None or self.finished.done() or self.scheduled < self.total:
            return
        if not self.backlog and self.redirects + self.errors >= self.total:
            self.finished.set_result(None)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank, in ms."""
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def _run(
    url: str,
    rate: float,
    warmup_s: float,
    seconds: float,
    connections: int,
    paths: Sequence[str] | None,
) -> _Pacer:
    pacer = _Pacer(url, rate, warmup_s, seconds, paths)
    loop = asyncio.get_running_loop()
    pacer.finished = loop.create_future()
    # All connections open before the clock starts, so the first requests do not pay for them.
    await asyncio.gather(*(pacer.connect() for _ in range(connections)))
    if not pacer.idle:
        raise BenchError(f"could not connect to {url}")
    pacer.begin()
    timeout = warmup_s + seconds + DRAIN_TIMEOUT_S
    try:
        await asyncio.wait_for(asyncio.shield(pacer.finished), timeout)
    except TimeoutError:
        # Never answered (or never sent): errors, not silently dropped samples.
        pacer.errors += pacer.total - pacer.redirects - pacer.errors
    finally:
        if pacer.timer is not None:
            pacer.timer.cancel()
        pacer.finished.cancel()
        for conn in pacer.connections:
            if conn.transport is not None:
                conn.transport.close()
    return pacer


def open_loop(
    url: str,
    rate: float,
    warmup_s: float,
    seconds: float,
    connections: int,
    paths: Sequence[str] | None = None,
) -> OpenLoad:
    """`rate` requests/s for warmup_s + seconds; only the requests due after the warmup count.
    `paths`: on `url`'s host, request i asks for paths[i % len(paths)] (default: url's path)."""
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    pacer = asyncio.run(_run(url, rate, warmup_s, seconds, connections, paths))
    client_cores = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    if not pacer.latencies:
        raise BenchError(f"no request to {url} in the measured window succeeded")
    latencies, services, lags, lower = (
        sorted(v) for v in (pacer.latencies, pacer.services, pacer.lags, pacer.lower)
    )
    measured = len(latencies)
    achieved = pacer.sent_in_window / seconds
    # Only the generator's own lateness makes the figures wrong: a request that waited for a
    # busy connection is charged from its due time, so the server's delays are all in them.
    keeps_up = pacer.late_own <= MAX_OWN_LATE_SHARE * measured
    return OpenLoad(
        intended_rps=rate,
        achieved_rps=achieved,
        redirects=pacer.redirects,
        measured=measured,
        errors=pacer.errors + pacer.connect_errors,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        p999_ms=_percentile(latencies, 0.999),
        p99_lower_ms=_percentile(lower, 0.99),
        max_ms=latencies[-1] * 1000,
        service_p50_ms=_percentile(services, 0.50),
        service_p99_ms=_percentile(services, 0.99),
        lag_p50_ms=_percentile(lags, 0.50),
        lag_p99_ms=_percentile(lags, 0.99),
        late=pacer.late,
        late_own=pacer.late_own,
        queued=pacer.queued,
        connections=connections,
        client_cores=round(client_cores, 2),
        keeps_up=keeps_up,
    )
