"""Load shedding: a bounded number of requests in flight per process, redirects first.

A request "in flight" is one waiting on a dependency: an API call (database, analytics) or a
redirect whose slug is not cached (the api). A cached redirect never waits on anything, so it is
never counted and never shed: it costs less to serve than to refuse. Past `max_api` requests in
flight, API and stats requests are answered 503 at once; redirects that must ask the api are
refused only past `max_in_flight`. So a viral link keeps its share of the process while a stats
dashboard or a hung api backs up. One counter per process, shared by the services in it.

The event loop's lag (how late a timer fires) is the process's queueing delay: when it stays over
`api_lag_s` for `LAG_WINDOW` measurements in a row, the process is short of CPU and API requests
are shed too, for the redirects' sake, all but `api_reserve` of them in flight: an operator can
still see what is happening. Past `redirect_lag_s` of sustained lag, every redirect (cached ones
too) is answered 503 at once: a request that starts now has already waited that long in the
loop, and the 503 costs less than the 302 and its click, so the queue drains instead of growing
into timeouts. One late timer is not a shortage: a first request that loads a parser, a garbage
collection or a neighbour's burst stalls the loop once, and a single stall used to shed the next
API call (an idle all-in-one answered its first stats call 503).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from surge.platform.config import Settings
from surge.platform.metrics import IN_FLIGHT, LOOP_LAG, REQUESTS_SHED, add_publisher
from surge.platform.problems import OVERLOADED, PROBLEM_CONTENT_TYPE
from surge.platform.side_loop import on_side_loop

RETRY_AFTER_S = 1
LAG_EVERY_S = 0.05
LAG_WINDOW = 4  # measurements in a row over the bound: at least ~1 s of lag at the default
_HEADERS = [
    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
    (b"retry-after", str(RETRY_AFTER_S).encode()),
]
_DETAIL = "Too many requests in flight; retry shortly."
_BODY = OVERLOADED.body(_DETAIL)
# A person's browser (the dashboard) gets a page that says so, not a JSON document.
_HTML_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), _HEADERS[1]]
_HTML = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Busy right now</title></head>"
    b"<body><h1>Busy right now</h1><p>Surge has more requests than it can take at the moment. "
    b"Reload this page in a few seconds.</p></body></html>"
)


class Admission:
    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 512
        self.max_api = 128
        self.api_lag_s = 0.25
        self.redirect_lag_s = 0.5
        self.api_reserve = 2
        self.api_in_flight = 0  # API and stats requests alone (in_flight counts them too)
        # Read by every redirect: a plain attribute, set once per lag measurement.
        self.sheds_redirects = False
        self._recent_lags: deque[float] = deque(maxlen=LAG_WINDOW)
        self._watching: asyncio.Task[None] | None = None
        self._watchers = 0
        add_publisher(self._publish)

    def configure(self, settings: Settings) -> None:
        self.max_in_flight = settings.max_in_flight
        self.max_api = settings.api_in_flight_limit
        self.api_lag_s = settings.shed_lag_ms / 1000
        self.redirect_lag_s = settings.shed_redirect_lag_ms / 1000
        self.api_reserve = settings.api_reserve_under_lag

    @property
    def lag_s(self) -> float:
        """The last measurement (0 before the first)."""
        return self._recent_lags[-1] if self._recent_lags else 0.0

    @property
    def sustained_lag_s(self) -> float:
        """The lag every one of the last `LAG_WINDOW` measurements reached (0 until there are
        that many)."""
        if len(self._recent_lags) < LAG_WINDOW:
            return 0.0
        return min(self._recent_lags)

    def admits_api(self) -> bool:
        if self.in_flight >= self.max_api:
            return False
        return self.sustained_lag_s < self.api_lag_s or self.api_in_flight < self.api_reserve

    def admits_redirect(self) -> bool:
        return self.in_flight < self.max_in_flight

    def watch_lag(self) -> None:
        """Measure the event loop's lag while at least one service that called this runs. A
        service on a side loop (surge.platform.side_loop) is not measured: its lag holds up no
        redirect, and one task must not measure two loops."""
        if on_side_loop():
            return
        self._watchers += 1
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._measure_lag(), name="event-loop-lag")

    async def stop_watching(self) -> None:
        if on_side_loop():
            return
        self._watchers = max(0, self._watchers - 1)
        if self._watchers == 0 and self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
            self._watching = None
        self._recent_lags.clear()
        self.sheds_redirects = False

    async def _measure_lag(self) -> None:
        while True:
            due = time.monotonic() + LAG_EVERY_S
            await asyncio.sleep(LAG_EVERY_S)
            self._recent_lags.append(max(0.0, time.monotonic() - due))
            self.sheds_redirects = self.sustained_lag_s >= self.redirect_lag_s

    def _publish(self) -> None:
        IN_FLIGHT.set(self.in_flight)
        LOOP_LAG.set(self.lag_s)


admission = Admission()  # the process's


def _wants_html(scope: Scope) -> bool:
    return any(n == b"accept" and b"text/html" in v for n, v in scope.get("headers", ()))


async def refuse(send: Send, service: str, reason: str, scope: Scope | None = None) -> None:
    """The immediate 503 of a shed request: problem+json, or a page for a browser."""
    REQUESTS_SHED.labels(service, reason).inc()
    html = scope is not None and _wants_html(scope)
    headers, body = (_HTML_HEADERS, _HTML) if html else (_HEADERS, _BODY)
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ShedApiRequests:
    """Pure ASGI middleware of the api and analytics: admit a request while the process has
    room for API work, count it in flight, else answer 503 at once. Health and metrics always
    pass: an overloaded process must still say so. Internal calls serve redirects and ingest,
    and have their priority."""

    ALWAYS = frozenset({"/healthz", "/readyz", "/metrics"})
    # Streams open for as long as a page is (the dashboard's live panels): admitted like any
    # API request, but not counted in flight while they wait on nothing; bounded apart.
    STREAMS = frozenset({"/app/live"})

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.ALWAYS or on_side_loop():
            # On a side loop the caller's own middleware admitted the request and counts it:
            # the counters belong to the loop that answers redirects (and are not thread-safe).
            await self.app(scope, receive, send)
            return
        internal = scope["path"].startswith("/internal/")
        if internal:
            # Another service's call on behalf of a redirect (a slug lookup, clicks): a
            # redirect's priority.
            admitted, reason = admission.admits_redirect(), "in_flight"
        else:
            admitted = admission.admits_api()
            reason = "in_flight" if admission.in_flight >= admission.max_api else "event_loop_lag"
        if not admitted:
            await refuse(send, self.service, reason, scope)
            return
        if scope["path"] in self.STREAMS:
            await self.app(scope, receive, send)
            return
        admission.in_flight += 1
        admission.api_in_flight += not internal
        try:
            await self.app(scope, receive, send)
        finally:
            admission.in_flight -= 1
            admission.api_in_flight -= not internal
