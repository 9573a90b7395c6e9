"""Prometheus metrics: the catalogue (docs/observability.md), defined once here, recorded where
things happen, exposed by `GET /metrics` on every service.

Metrics are `prometheus_client` objects in its default registry, so with
`PROMETHEUS_MULTIPROC_DIR` set (several worker processes behind one port) the exposition sums
every process. What the redirect's hot path counts goes through a `RequestTally` first (below).
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surge import __version__
from surge.platform.logging import get_logger

log = get_logger(__name__)

# From a sub-millisecond cached redirect to a slow API call; 0.05 is the redirect latency SLO.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Methods outside this set are labelled "other": a client cannot grow the label set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"

BUILD_INFO = Gauge(
    "surge_build_info",
    "The running version (the deploy marker): 1 per service and version.",
    ["service", "version", "commit"],
    multiprocess_mode="max",
)
HTTP_REQUESTS = Counter(
    "surge_http_requests",
    "Requests answered, by route template (never a raw slug).",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "surge_http_request_duration_seconds",
    "Time to answer a request.",
    ["service", "route", "method"],
    buckets=LATENCY_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "surge_cache_lookups",
    "Slug lookups of the redirect by tier (local, redis, api) and outcome.",
    ["tier", "outcome"],
)
CLICKS_RECORDED = Counter("surge_clicks_recorded", "Clicks the redirect buffered.")
CLICKS_BUFFERED = Gauge(
    "surge_clicks_buffered", "Clicks in the redirect's buffer now.", multiprocess_mode="livesum"
)
CLICKS_FLUSHED = Counter("surge_clicks_flushed", "Clicks delivered to the stream or analytics.")
CLICKS_SPOOLED = Counter("surge_clicks_spooled", "Clicks written to the spool.")
CLICKS_REPLAYED = Counter("surge_clicks_replayed", "Spooled clicks delivered later.")
SPOOL_FILES = Gauge("surge_spool_files", "Spool files on disk.", multiprocess_mode="max")
SPOOL_BYTES = Gauge("surge_spool_bytes", "Bytes in spool files.", multiprocess_mode="max")
CLICKS_INGESTED = Counter("surge_clicks_ingested", "New clicks stored by analytics.")
CLICKS_DUPLICATES = Counter(
    "surge_clicks_duplicates", "Clicks delivered again and dropped by idempotent ingest."
)
DEAD_LETTERED = Counter(
    "surge_click_entries_dead_lettered", "Unreadable click stream entries moved aside."
)
INGEST_DURATION = Histogram(
    "surge_click_ingest_duration_seconds", "One ingest transaction.", buckets=LATENCY_BUCKETS
)
CLICKHOUSE_SECONDS = Histogram(
    "surge_clickhouse_request_duration_seconds",
    "One request to ClickHouse (SURGE_CLICKHOUSE_URL), by operation: insert, select, command.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
CLICKHOUSE_ERRORS = Counter(
    "surge_clickhouse_errors",
    "Requests to ClickHouse that failed (refused, or the server unreachable), by operation.",
    ["operation"],
)
# By shard of the click stream ("0" when it is not split: SURGE_CLICK_STREAM_SHARDS).
STREAM_LENGTH = Gauge(
    "surge_click_stream_length",
    "Entries in the click stream.",
    ["shard"],
    multiprocess_mode="max",
)
STREAM_PENDING = Gauge(
    "surge_click_stream_pending",
    "Click stream entries delivered to analytics and not yet acknowledged.",
    ["shard"],
    multiprocess_mode="max",
)
STREAM_LAG = Gauge(
    "surge_click_stream_lag",
    "Click stream entries not yet delivered to the analytics consumer group.",
    ["shard"],
    multiprocess_mode="max",
)
DB_STATEMENT_DURATION = Histogram(
    "surge_db_statement_duration_seconds",
    "One SQL statement, by fingerprint.",
    ["service", "statement"],
    buckets=LATENCY_BUCKETS,
)
DB_READS = Counter(
    "surge_db_reads",
    "Reads of links that could go to a replica, by where they went: replica, primary (none "
    "usable, or the caller's read-your-writes window), fallback (the replica failed, the "
    "primary answered).",
    ["target"],
)
DB_REPLICA_LAG = Gauge(
    "surge_db_replica_lag_seconds",
    "How long ago the primary was at a position this replica has not replayed yet (0: caught "
    "up), measured every SURGE_DATABASE_REPLICA_CHECK_S.",
    ["replica"],
    multiprocess_mode="max",
)
DB_REPLICA_LAG_BYTES = Gauge(
    "surge_db_replica_lag_bytes",
    "WAL bytes the primary has written that this replica has not replayed yet.",
    ["replica"],
    multiprocess_mode="max",
)
LIVE_STREAMS = Gauge(
    "surge_live_streams",
    "Live dashboard panels open (server-sent event streams).",
    multiprocess_mode="livesum",
)
LIVE_DROPPED = Counter("surge_live_dropped", "Live feed messages a slow stream lost (its oldest).")
LIVE_PUBLISH_ERRORS = Counter(
    "surge_live_publish_errors", "Live feed messages analytics could not send (clicks still count)."
)
LOOP_RUNNING = Gauge(
    "surge_loop_running",
    "Background loops running (1 per loop and process).",
    ["loop"],
    multiprocess_mode="livesum",
)
LOOP_RESTARTS = Counter(
    "surge_loop_restarts", "Rounds of a background loop that failed and were retried.", ["loop"]
)
LOOP_LAST_SUCCESS = Gauge(
    "surge_loop_last_success_timestamp_seconds",
    "When a round of the loop last succeeded.",
    ["loop"],
    multiprocess_mode="max",
)

WEBHOOK_DELIVERIES = Counter(
    "surge_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, http_error (a non-2xx answer), "
    "network_error (no answer: refused, reset, timed out) or refused (the address is internal).",
    ["outcome"],
)
WEBHOOK_DELIVERY_DURATION = Histogram(
    "surge_webhook_delivery_duration_seconds",
    "One webhook delivery attempt, from connecting to the answer.",
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_OUTBOX_AGE = Gauge(
    "surge_webhook_outbox_oldest_age_seconds",
    "Age of the oldest undelivered webhook event of an enabled endpoint (0: none waits).",
    multiprocess_mode="max",
)
WEBHOOK_OUTBOX_PENDING = Gauge(
    "surge_webhook_outbox_pending",
    "Undelivered webhook events of enabled endpoints.",
    multiprocess_mode="max",
)
WEBHOOK_ENDPOINTS_DISABLED = Gauge(
    "surge_webhook_endpoints_disabled",
    "Webhook endpoints disabled (after too many failures in a row, until re-enabled).",
    multiprocess_mode="max",
)


def service_started(service: str, commit: str, tally: RequestTally) -> None:
    """Set the deploy marker; the service's tally is published with every exposition (and,
    with several worker processes, every second: a scrape reaches only one of them)."""
    global _publishing
    BUILD_INFO.labels(service, __version__, commit).set(1)
    add_publisher(tally.publish)
    if multiprocess() and _publishing is None:
        _publishing = asyncio.create_task(_publish_every_second(), name="metrics-publisher")


def service_stopped(tally: RequestTally) -> None:
    global _publishing
    tally.publish()
    remove_publisher(tally.publish)
    if not _publishers and _publishing is not None:
        _publishing.cancel()
        _publishing = None


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


async def _publish_every_second() -> None:
    while True:
        await asyncio.sleep(PUBLISH_EVERY_S)
        publish()


BREAKER_OPEN = Gauge(
    "surge_breaker_open",
    "1 while the circuit breaker of a dependency is open (calls to it fail at once).",
    ["breaker"],
    multiprocess_mode="max",
)
RATE_LIMITED = Counter(
    "surge_rate_limited",
    "Requests answered 429 because a rate limit or quota was spent, by limit.",
    ["service", "limit"],
)
RATE_LIMIT_ERRORS = Counter(
    "surge_rate_limit_errors",
    "Rate-limit checks that could not reach their storage (the request was let through).",
    ["service"],
)
REQUESTS_SHED = Counter(
    "surge_requests_shed",
    "Requests answered 503 at once because the process was overloaded.",
    ["service", "reason"],
)
IN_FLIGHT = Gauge(
    "surge_requests_in_flight",
    "Requests being handled that wait on a dependency.",
    multiprocess_mode="livesum",
)
LOOP_LAG = Gauge(
    "surge_event_loop_lag_seconds",
    "How late the event loop runs a timer: the process's queueing delay.",
    multiprocess_mode="max",
)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


# What must be pushed into the metrics before they are read: tallies, gauges read on demand.
_publishers: list[Callable[[], None]] = []
_publishing: asyncio.Task[None] | None = None
PUBLISH_EVERY_S = 1.0


def add_publisher(publish: Callable[[], None]) -> None:
    _publishers.append(publish)


def remove_publisher(publish: Callable[[], None]) -> None:
    if publish in _publishers:
        _publishers.remove(publish)


def publish() -> None:
    for publish_one in list(_publishers):
        publish_one()


def exposition() -> tuple[bytes, str]:
    """The body and content type of `GET /metrics`: this process, or every worker process of
    the server when `PROMETHEUS_MULTIPROC_DIR` is set."""
    publish()
    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


class RequestTally:
    """A service's requests counted in plain Python, pushed into `HTTP_REQUESTS` and
    `HTTP_DURATION` when metrics are read.

    Written by hand for the hot path: through `prometheus_client`, a locked counter increment
    and a locked histogram observation cost ~1.4 µs per request, 18% of a cached redirect
    (7.8 µs in-process, bench/hot_path.py); a list increment costs ~0.2 µs. The sums still land
    in the library's metrics (exposition, multiprocess mode), at every scrape, exactly.
    Requests and scrapes run on one event loop, so no lock is needed.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        # (route, method, status) -> [count per bucket (the last is +Inf)..., sum of seconds]
        self._rows: dict[tuple[str, str, int], list[float]] = {}
        # (route, method, status) -> durations not yet folded into its row (`samples`).
        self._samples: dict[tuple[str, str, int], list[float]] = {}
        # Counts of CACHE_LOOKUPS, by (tier, outcome).
        self.lookups: defaultdict[tuple[str, str], int] = defaultdict(int)

    def row(self, route: str, method: str, status: int) -> list[float]:
        """The row to `observe` into; a caller may keep it (a route's hot row)."""
        key = (route, method, status)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        return row

    def samples(self, route: str, method: str, status: int) -> list[float]:
        """A list to append a request's seconds to, the cached redirect's way: an append is
        ~1,100 instructions cheaper than bucketing and summing on the spot (callgrind,
        bench/hot_path.py), which kept the metrics over 5% of a cached redirect. The samples
        reach the row at every publish; their owner also calls `fold` on its own loop at least
        every second, so that they stay bounded where nothing scrapes."""
        key = (route, method, status)
        self.row(route, method, status)  # exposed (at zero) from the start, as rows are
        return self._samples.setdefault(key, [])

    def fold(self) -> None:
        """The samples appended so far, into their rows."""
        for key, samples in self._samples.items():
            taken = len(samples)
            if not taken:
                continue
            seconds = samples[:taken]
            del samples[:taken]  # one appended meanwhile (a publish from another thread) stays
            row = self._rows[key]
            # Past the first bucket: few (a loop stall, a GC pause), bucketed one by one. The
            # rest in C: 15 ns a sample with one slow in 30,000, 163 ns through `observe`.
            slow = [one for one in seconds if one > LATENCY_BUCKETS[0]]
            row[0] += taken - len(slow)
            row[-1] += sum(seconds) - sum(slow)
            for one in slow:
                observe(row, one)

    def rows(self) -> list[tuple[tuple[str, str, int], list[float]]]:
        self.fold()
        return list(self._rows.items())

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        observe(self.row(route, method, status), seconds)

    def publish(self) -> None:
        service = self.service
        self.fold()
        for (route, method, status), row in self._rows.items():
            count = sum(row[:-1])
            if not count:
                continue
            HTTP_REQUESTS.labels(service, route, method, str(status)).inc(count)
            histogram = HTTP_DURATION.labels(service, route, method)
            # The library has no call to add many observations at once; its buckets are
            # per-bucket (not cumulative) values, summed when exposed.
            for bucket, n in zip(histogram._buckets, row[:-1], strict=True):
                if n:
                    bucket.inc(n)
            histogram._sum.inc(row[-1])
            row[:] = [0.0] * len(row)
        for (tier, outcome), n in self.lookups.items():
            if n:
                CACHE_LOOKUPS.labels(tier, outcome).inc(n)
        self.lookups.clear()


def observe(row: list[float], seconds: float) -> None:
    """One request of `seconds` into a tally row."""
    row[bisect_left(LATENCY_BUCKETS, seconds)] += 1
    row[-1] += seconds


# Scope key: the prefix of the API key a request authenticated with (never the key itself),
# so that the request's log line names the key.
KEY_PREFIX_SCOPE = "surge.key_prefix"


class RequestMetrics:
    """Pure ASGI middleware of a FastAPI service: each request into the tally by its route
    template (set on the scope by the router), and one log line per request when `log` is on."""

    def __init__(
        self, app: ASGIApp, tally: RequestTally, *, count: bool, log_requests: bool
    ) -> None:
        self.app = app
        self.service = tally.service
        self.tally = tally if count else None
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            method = method_label(scope["method"])
            if self.tally is not None:
                self.tally.observe(route, method, status, elapsed)
            if self.log_requests and route != "/metrics":
                log.info(
                    "request",
                    service=self.service,
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    **({"key": scope[KEY_PREFIX_SCOPE]} if KEY_PREFIX_SCOPE in scope else {}),
                )
