"""The cached redirect on granian's native interface (RSGI; surge.platform.rsgi).

The same answer as the ASGI path in surge.redirect.app for the request most traffic is: a GET
or HEAD of a slug on the default domain, whose link is in the local cache, simple (no rules,
password or start date), live and not forwarding a query. Anything else is declined (False)
and goes to the ASGI app unchanged, so every other behaviour has one implementation.

Why a second copy of the hot path: under granian's ASGI the server makes the scope dict, the
header tuples and two awaited sends per request, ~22,000 instructions; answering from RSGI's
objects skips them (docs/adr/0012-rsgi-on-granian.md has the measurements). tests/redirect/
test_app.py runs every redirect test over ASGI and over RSGI: same answers, same click rows.
"""

from __future__ import annotations

from collections.abc import Callable
from random import random
from typing import TYPE_CHECKING

from surge.data.contracts import SLUG_PATTERN
from surge.platform.admission import admission
from surge.platform.cache import ABSENT, LocalCache
from surge.platform.logging import get_logger
from surge.redirect.other_paths import OWN_PATHS
from surge.redirect.responses import Headers, Site, Target
from surge.redirect.visitor import private_row

if TYPE_CHECKING:
    from surge.platform.rate_limits import Limit
    from surge.platform.rsgi import RsgiProtocol, RsgiScope
    from surge.platform.tracing import Tracing
    from surge.redirect.clicks import ClickBuffer

log = get_logger(__name__)
StrHeaders = list[tuple[str, str]]


def str_headers(headers: Headers) -> StrHeaders:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


class NativeRedirects:
    clock: Callable[[], float]
    default_hosts: dict[bytes | str, Site]
    cache: LocalCache[str, Target]
    ip_limit: Limit | None
    metrics_on: bool
    get_samples: dict[int, list[float]]
    head_samples: dict[int, list[float]]
    clicks: ClickBuffer | None
    new_click_id: Callable[[], str]
    country_name: str | None  # the country and client address headers' names (lowercase)
    client_ip_name: str | None
    log_sample: float
    tracing: Tracing | None

    def serve_native(self, scope: RsgiScope, proto: RsgiProtocol) -> bool:
        """Answer a cached redirect (True), or decline (False) having answered nothing."""
        now = self.clock()
        method = scope.method
        path = scope.path
        if method not in ("GET", "HEAD") or path in OWN_PATHS:
            return False
        headers = scope.headers
        try:  # str keys beside the ASGI path's bytes ones: both name the default domain
            site = self.default_hosts[headers.get("host") or ""]
        except KeyError:
            return False
        if (
            not SLUG_PATTERN.fullmatch(path[1:])
            or self.ip_limit is not None
            or admission.sheds_redirects
        ):
            return False
        cached = self.cache.peek(site.key + path)
        if cached is None or cached is ABSENT:
            return False
        target: Target = cached  # type: ignore[assignment]
        if (
            not target.simple
            or (target.expires_at is not None and now >= target.expires_at)
            or (
                target.max_clicks is not None
                and target.clicks_before + target.served >= target.max_clicks
            )
            or (target.forwarding is not None and scope.query_string)
        ):
            return False
        native = target.native_headers
        if native is None:
            native = target.native_headers = str_headers(target.headers)
        proto.response_empty(target.status, native)
        if method == "GET":  # HEAD is link checkers and unfurlers, not people: not a click
            target.served += 1
            self._record_native_click(target, scope, now)
        if self.metrics_on:  # inline as in app.py's __call__: a method call here costs ~450
            samples = (self.get_samples if method == "GET" else self.head_samples)[target.status]
            samples.append(self.clock() - now)
        if self.log_sample and random() < self.log_sample:
            log.info("redirect", slug=path[1:], method=method, status=target.status)
        return True

    def _record_native_click(self, target: Target, scope: RsgiScope, now: float) -> None:
        """The row `_record_click` makes on the ASGI path, from RSGI's headers (str already)."""
        headers = scope.headers
        user_agent = headers.get("user-agent")
        assert self.clicks is not None
        if headers.get("sec-gpc") == "1" or headers.get("dnt") == "1":
            self.clicks.add(private_row(self.new_click_id(), target, now, user_agent, 0))
            return
        forwarded = headers.get(self.client_ip_name) if self.client_ip_name else None
        if forwarded is None:
            ip = scope.client.rpartition(":")[0].strip("[]")
        else:
            ip = forwarded.split(",", 1)[0].strip()
        self.clicks.add(
            (
                self.new_click_id(),
                target.link_id,
                target.slug,
                now,
                headers.get("referer"),
                user_agent,
                headers.get(self.country_name) if self.country_name else None,
                None,  # the visitor id: analytics makes it at ingest (surge.data.visitors)
                None,
                ip,  # for analytics to locate (GeoIP) and to make the visitor id; never stored
            )
        )
