"""The redirect service: `GET|HEAD /{slug}` from the local cache tier, lean pure ASGI.

FastAPI costs 2-3x the throughput of bare ASGI here (docs/adr/0001-lean-redirect.md), so this
module routes by hand: a handful of exact paths, and everything else is a slug.
"""

from __future__ import annotations

from collections.abc import Callable
from random import random
from typing import TYPE_CHECKING

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from surge.data.contracts import SLUG_PATTERN, DomainEntry, ResolvedLink
from surge.data.events import ClickRow, click_ids
from surge.data.link_tier import SharedLinkTier
from surge.data.orphans import BASE_URL, INVALID_SHORT_URL, REGULAR_404, OrphanKind
from surge.data.rule_inputs import header_names
from surge.domains.hosts import default_entry, host_of
from surge.platform.admission import admission, refuse
from surge.platform.breakers import Breaker, BreakerOpen, Breakers
from surge.platform.cache import ABSENT, LocalCache
from surge.platform.clock import unix_time
from surge.platform.config import Settings
from surge.platform.http import idempotent_retries, internal_client
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import (
    CACHE_LOOKUPS,
    UNMATCHED_ROUTE,
    RequestTally,
    add_publisher,
    method_label,
    remove_publisher,
    service_started,
    service_stopped,
)
from surge.platform.rate_limits import RateLimits
from surge.platform.redis import (
    RedisClient,
    RedisNames,
    redis_from_settings,
    redis_unavailable,
)
from surge.platform.security_headers import page_headers, transport_headers
from surge.platform.tracing import TRACED
from surge.platform.tracing import active as active_tracing
from surge.redirect.clicks import ClickBuffer, ClickSink, HttpClickSink, RedisStreamSink
from surge.redirect.invalidation import Caches, InvalidationListener
from surge.redirect.native import NativeRedirects
from surge.redirect.orphans import OrphanVisits
from surge.redirect.other_paths import OWN_PATHS, SLUG_ROUTE, OtherPaths, route_of
from surge.redirect.protected import ProtectedLinks
from surge.redirect.responses import (
    GONE,
    NOT_FOUND,
    UNAVAILABLE,
    UNKNOWN_HOST,
    ApiUnavailable,
    Headers,
    Site,
    Target,
)
from surge.redirect.robots import ROBOTS_PATH, Robots
from surge.redirect.spool import Spool
from surge.redirect.unlock import UnlockCookies, send_locked
from surge.redirect.visitor import PRIVATE, private_row

if TYPE_CHECKING:
    from surge.platform.rate_limits import Limit

log = get_logger(__name__)
REDIRECT_STATUSES = (301, 302, 307, 308)
FOLD_EVERY_S = 1.0  # the hot path's samples held at most this long (RequestTally.samples)
LOCAL_HIT, LOCAL_NEGATIVE, LOCAL_MISS = ("local", "hit"), ("local", "negative"), ("local", "miss")
MAX_DEFAULT_HOSTS = 1024  # raw Host values known to name the default domain, kept in a dict


def api_unavailable(exc: BaseException) -> bool:
    """What trips the api breaker: no answer, or an answer that is not 200 or 404."""
    return isinstance(exc, httpx.HTTPError | ApiUnavailable)


class RedirectTally(RequestTally):
    """Also counts the local tier's hits, without a counter on the hot path: every GET or HEAD
    of a slug asks the local tier once, so its hits are those requests less its misses and
    negative answers."""

    def publish(self) -> None:
        asked = sum(
            sum(row[:-1])
            for (route, method, _status), row in self.rows()
            if route == SLUG_ROUTE and method in ("GET", "HEAD")
        )
        hits = asked - self.lookups[LOCAL_MISS] - self.lookups[LOCAL_NEGATIVE]
        self.lookups[LOCAL_HIT] += int(hits)
        super().publish()


class RedirectService(OtherPaths, ProtectedLinks, Robots, OrphanVisits, NativeRedirects):
    name = "redirect"

    def __init__(
        self,
        settings: Settings,
        *,
        api_transport: httpx.AsyncBaseTransport | None = None,
        analytics_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = unix_time,
    ) -> None:
        self.settings = settings
        self.api_transport = api_transport
        self.analytics_transport = analytics_transport
        self.clock = clock
        self.tally = RedirectTally(self.name)
        self.breakers = Breakers.from_settings(settings)
        self.api_breaker: Breaker | None = None
        self.metrics_on = settings.metrics_enabled
        # The tally's samples of redirects by status (301, 302, 307, 308).
        tally = self.tally
        self.get_samples = {s: tally.samples(SLUG_ROUTE, "GET", s) for s in REDIRECT_STATUSES}
        self.head_samples = {s: tally.samples(SLUG_ROUTE, "HEAD", s) for s in REDIRECT_STATUSES}
        self.folding = SupervisedLoop("redirect-metrics-fold", self._fold)
        self.log_sample = settings.redirect_log_sample
        self.cache: LocalCache[str, Target] = LocalCache(
            settings.cache_size,
            settings.cache_ttl_s,
            settings.negative_cache_ttl_s,
            on_stale=self._served_stale,
        )
        # Hosts other than the default domain's, by name: their Site, or ABSENT (unknown).
        self.sites: LocalCache[str, Site] = LocalCache(
            1024, settings.cache_ttl_s, settings.negative_cache_ttl_s
        )
        self.caches = Caches(self.cache, self.sites)
        self.default_hosts = self.caches.default_hosts  # the same dict, an attribute hop less
        # Each domain's robots.txt, by its key.
        self.robots: LocalCache[str, bytes] = LocalCache(1024, settings.cache_ttl_s, 0)
        self.new_click_id = click_ids()
        self.country_header = (settings.country_header or "").encode()
        self.ip_header = (settings.client_ip_header or "").encode()
        self.country_name, self.client_ip_name = settings.country_header, settings.client_ip_header
        self.rule_header_names = header_names(self.country_header, self.ip_header)
        self.redirect_headers = transport_headers(settings.public_url)
        self.page_headers = page_headers(settings.public_url)
        self.default_site = Site.of(default_entry(settings), self.redirect_headers)
        self.names = RedisNames(settings.redis_prefix)
        self.api: httpx.AsyncClient | None = None
        self.analytics: httpx.AsyncClient | None = None
        self.redis: RedisClient | None = None
        self.shared: SharedLinkTier | None = None
        self.clicks: ClickBuffer | None = None
        self.invalidations: InvalidationListener | None = None
        self.ip_limit: Limit | None = None  # off unless SURGE_RATE_LIMIT_REDIRECTS_PER_IP
        self.password_ip_limit: Limit | None = None
        self.password_limit: Limit | None = None
        self.unlocks = UnlockCookies(
            settings.internal_token,
            settings.link_unlock_minutes * 60,
            secure=settings.public_url.startswith("https://"),
        )
        self.tracing = active_tracing()
        self.app: ASGIApp = self if self.tracing is None else self.tracing.asgi(self, route_of)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.api = internal_client(
            s.api_url,
            s.internal_token,
            timeout_s=s.internal_timeout_s,
            transport=self.api_transport,
        )
        self.analytics = internal_client(
            s.analytics_url,
            s.internal_token,
            timeout_s=s.internal_timeout_s,
            transport=self.analytics_transport,
        )
        self.api_breaker = await self.breakers.get("api", api_unavailable)
        sink: ClickSink = HttpClickSink(self.analytics)
        self.redis = redis_from_settings(s)
        redis_breaker = None
        if self.redis is not None:
            redis_breaker = await self.breakers.get("redis", redis_unavailable)
            self.shared = SharedLinkTier(
                self.redis,
                self.names,
                ttl_s=s.cache_ttl_s,
                negative_ttl_s=s.negative_cache_ttl_s,
                breaker=redis_breaker,
            )
            sink = RedisStreamSink(
                self.redis,
                self.names.click_shards(s.click_stream_shards),
                redis_breaker,
                wait_replicas=s.redis_wait_replicas,
                # Well within the socket timeout, which would cut the WAIT off.
                wait_timeout_ms=int(s.redis_timeout_s * 500),
            )
            self.invalidations = InvalidationListener(
                self.redis, self.names.invalidations, self.caches
            )
            self.invalidations.start()
        self.clicks = ClickBuffer(
            sink,
            interval_s=s.click_flush_interval_ms / 1000,
            batch_size=s.click_batch_size,
            limit=s.click_buffer_limit,
            spool=Spool(s.spool_dir),
            shards=s.click_stream_shards if self.redis is not None else 1,
        )
        self.clicks.start()
        limits = RateLimits(
            self.name, redis=self.redis, prefix=self.names.rate_limits, breaker=redis_breaker
        )
        self.ip_limit = limits.limit("redirect_ip", s.rate_limit_redirects_per_ip)
        self.password_ip_limit = limits.limit("link_password_ip", s.rate_limit_link_password_per_ip)
        self.password_limit = limits.limit("link_password", s.rate_limit_link_password)
        service_started(self.name, s.build_commit, self.tally)
        if self.metrics_on:
            self.folding.start()
        add_publisher(self.clicks.publish_metrics)
        admission.configure(s)
        admission.watch_lag()

    async def _fold(self) -> None:
        await self.folding.sleep(FOLD_EVERY_S)
        self.tally.fold()

    async def stop(self) -> None:
        await admission.stop_watching()
        await self.folding.stop()
        service_stopped(self.tally)  # publishes what is left
        if self.clicks is not None:
            remove_publisher(self.clicks.publish_metrics)
        if self.invalidations is not None:
            await self.invalidations.stop()
        if self.clicks is not None:
            await self.clicks.close()
        for client in (self.api, self.analytics):
            if client is not None:
                await client.aclose()
        if self.redis is not None:
            await self.redis.aclose()

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # The request's time: its clicks' timestamp, what expiry is checked against, and where
        # its duration starts (one clock read for all three: each costs 1% of this path).
        now = self.clock()
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/internal/") or path in OWN_PATHS or method not in ("GET", "HEAD"):
            if method == "POST" and path[:10] != "/internal/" and path not in OWN_PATHS:
                await self._posted(scope, receive, send, now)  # a protected link's password
            else:
                await self._not_a_redirect(scope, receive, send, now)
            return
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        try:  # a subscript, not .get(): a method call costs ~110 instructions more
            site = self.default_hosts[host]
        except KeyError:
            found = await self._site(host, scope, send, now)
            if found is None:  # answered: an unknown domain, or the api is away
                return
            site = found
        slug = path[1:]
        if not SLUG_PATTERN.fullmatch(slug):
            if path == ROBOTS_PATH:
                self._observe(ROBOTS_PATH, method, await self._robots(site, scope, send), now)
                return
            # Orphan visits (recorded below) are bounded per address like redirects.
            if self.ip_limit is not None and await self._over_ip_limit(scope, send, now):
                return
            if path == "/":
                self._record_orphan(site, scope, now, BASE_URL)
                if site.root is not None:
                    await self._found(site.root, send, method, UNMATCHED_ROUTE, now)
                    return
                if not site.key and await self._to_the_dashboard(scope, send):
                    self._observe(UNMATCHED_ROUTE, method, 302, now)
                    return
                await self._not_found(site, scope, send, UNMATCHED_ROUTE, now, None)
                return
            await self._not_found(site, scope, send, UNMATCHED_ROUTE, now, REGULAR_404)
            return
        if self.ip_limit is not None and await self._over_ip_limit(scope, send, now):
            return
        if admission.sheds_redirects:  # the loop is far behind: a fast 503, not a late 302
            await refuse(send, self.name, "event_loop_lag", scope)
            self._observe(SLUG_ROUTE, method, 503, now)
            return
        key = site.key + path  # the default domain's key is '': "/slug", no new string
        cached = self.cache.peek(key)
        if cached is None:
            if self.metrics_on:
                self.tally.lookups[LOCAL_MISS] += 1
            if not admission.admits_redirect():  # misses wait on the api: bounded
                await refuse(send, self.name, "in_flight", scope)
                self._observe(SLUG_ROUTE, method, 503, now)
                return
            admission.in_flight += 1
            try:
                target = await self.cache.get_or_load(key, self._load)
            except ApiUnavailable:
                await self._page(UNAVAILABLE, scope, send, [(b"retry-after", b"5")])
                self._observe(SLUG_ROUTE, method, UNAVAILABLE.status, now)
                return
            finally:
                admission.in_flight -= 1
        else:
            target = None if cached is ABSENT else cached  # type: ignore[assignment]
            if target is None and self.metrics_on:
                self.tally.lookups[LOCAL_NEGATIVE] += 1
        if target is None:
            await self._not_found(site, scope, send, SLUG_ROUTE, now)
            return
        if (target.expires_at is not None and now >= target.expires_at) or (
            target.max_clicks is not None
            and target.clicks_before + target.served >= target.max_clicks
        ):
            self._record_orphan(site, scope, now, INVALID_SHORT_URL)  # as Shlink counts it
            if site.expired is not None:
                await self._found(site.expired, send, method, SLUG_ROUTE, now)
                return
            await self._page(GONE, scope, send)
            self._observe(SLUG_ROUTE, method, GONE.status, now)
            return
        if target.simple:  # no rules, no password, no start date
            headers = target.headers
            if target.forwarding is not None:
                query = scope["query_string"]
                if query:
                    headers = target.forwarding[0].with_query(query)
            await send({"type": "http.response.start", "status": target.status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            if method == "GET":  # HEAD is link checkers and unfurlers, not people: not a click
                target.served += 1
                self._record_click(target, scope, now)
        else:
            if target.gated is None:  # rules only: no coroutine of _special to make
                headers, click = self._ruled(target, scope, method, now)
            else:
                chosen = await self._special(target, site, scope, send, method, now)
                if chosen is None:  # answered: not valid yet, or a password is needed
                    return
                headers, click = chosen
            await send({"type": "http.response.start", "status": target.status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            if click is not None:
                target.served += 1
                assert self.clicks is not None
                self.clicks.add(click)
        if self.metrics_on:
            # Inline, one append (bucketed at publish, RequestTally.samples): every 0.1 µs
            # here is 1.5%.
            samples = (self.get_samples if method == "GET" else self.head_samples)[target.status]
            samples.append(self.clock() - now)
        if self.log_sample and random() < self.log_sample:
            log.info("redirect", slug=slug, method=method, status=target.status)

    def _observe(self, route: str, method: str, status: int, start: float) -> None:
        if self.metrics_on:
            self.tally.observe(route, method_label(method), status, self.clock() - start)

    async def _found(
        self, headers: Headers, send: Send, method: str, route: str, start: float
    ) -> None:
        """A domain's own redirect (its root, not-found or expired URL): a 302, no click (an
        orphan visit, recorded by the caller)."""
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        self._observe(route, method, 302, start)

    async def _not_found(
        self,
        site: Site,
        scope: Scope,
        send: Send,
        route: str,
        start: float,
        orphan: OrphanKind | None = INVALID_SHORT_URL,
    ) -> None:
        """`orphan`: the kind of orphan visit recorded (None: recorded already)."""
        if orphan is not None:
            self._record_orphan(site, scope, start, orphan)
        if site.not_found is not None:
            await self._found(site.not_found, send, scope["method"], route, start)
            return
        await self._page(NOT_FOUND, scope, send)
        self._observe(route, scope["method"], NOT_FOUND.status, start)

    async def _site(self, host: bytes, scope: Scope, send: Send, start: float) -> Site | None:
        """How a Host not seen yet is served (None: answered already, 404 or 503)."""
        name = host_of(host.decode("latin-1"))
        if not name or name in self.settings.default_hosts:  # no Host at all: HTTP/1.0
            if len(self.caches.default_hosts) >= MAX_DEFAULT_HOSTS:
                self.caches.default_hosts.clear()
            self.caches.default_hosts[host] = self.default_site
            # RSGI's headers are str: the native path (surge.redirect.native) looks it up so.
            self.caches.default_hosts[host.decode("latin-1")] = self.default_site
            return self.default_site
        try:
            site = await self.sites.get_or_load(name, self._load_site)
        except ApiUnavailable:
            await self._page(UNAVAILABLE, scope, send, [(b"retry-after", b"5")])
            self._observe(UNMATCHED_ROUTE, scope["method"], UNAVAILABLE.status, start)
            return None
        if site is None:
            await self._page(UNKNOWN_HOST, scope, send)
            self._observe(UNMATCHED_ROUTE, scope["method"], UNKNOWN_HOST.status, start)
        return site

    async def _load_site(self, name: str) -> Site | None:
        response = await self._ask_api(f"/internal/domains/{name}")
        if response is None:
            return None
        return Site.of(DomainEntry.model_validate_json(response.content), self.redirect_headers)

    async def _special(
        self, target: Target, site: Site, scope: Scope, send: Send, method: str, now: float
    ) -> tuple[Headers, ClickRow | None] | None:
        """A link with a start date or a password: where `_ruled` sends this request, or None
        when it was answered instead (not valid yet, or locked)."""
        if target.valid_since is not None and now < target.valid_since:
            await self._not_found(site, scope, send, SLUG_ROUTE, now)
            return None
        if target.lock is not None and not self.unlocks.opens(scope, target, now):
            status = await send_locked(scope, send, target.slug, extra=self.redirect_headers)
            self._observe(SLUG_ROUTE, method, status, now)
            return None
        return self._ruled(target, scope, method, now)

    def _ruled(
        self, target: Target, scope: Scope, method: str, now: float
    ) -> tuple[Headers, ClickRow | None]:
        """Where a link with rules (or let through its start date or password) sends this
        request: the first rule it matches (else the link's own target), the visitor's query
        merged in if the link forwards it; and its click, which records the target (None for
        HEAD: link checkers and unfurlers, not people).

        One pass over the headers serves the rules and the click: a pass each cost ~2,500
        instructions more per redirect (callgrind, hot_path.py with HOT_PATH_RULES=5). It reads
        what rule_inputs.request_values and _record_click read (tests check each against the
        rules' reference and click_row), and Accept-Language, which only rules need. Not a
        coroutine, and the client's address read in place: each cost ~450 instructions."""
        referer = country = forwarded = None
        ua = accepted = b""
        private = False
        country_name, ip_name = self.rule_header_names
        for name, value in scope["headers"]:
            if name == b"referer":
                referer = value
            elif name == b"user-agent":
                ua = value
            elif name == b"accept-language":
                accepted = value
            elif name == country_name:
                country = value
            elif name == ip_name:
                forwarded = value
            elif name in PRIVATE and value == b"1":
                private = True
        if forwarded is None:  # rule_inputs.client_address, inline
            client = scope.get("client")
            ip = client[0] if client else ""
        else:
            ip = forwarded.decode("latin-1").split(",", 1)[0].strip()
        # The rules' compiled function, called here: a method around it cost ~450 instructions.
        rules = target.rules
        found = None if rules is None else rules(ua, accepted, country, ip, scope, now)
        index = 0 if found is None else found + 1
        headers = target.headers if found is None else target.rule_headers[found]
        if target.forwarding is not None:
            query = scope["query_string"]
            if query:
                headers = target.forwarding[index].with_query(query)
        if method == "HEAD":
            return headers, None
        if self.tracing is not None and TRACED in scope:
            self._traced(scope)
        user_agent = ua.decode("latin-1") if ua else None
        if private:  # Sec-GPC or DNT: the click counts, nothing of its visitor is kept
            return headers, private_row(self.new_click_id(), target, now, user_agent, index)
        return headers, (
            self.new_click_id(),
            target.link_id,
            target.slug,
            now,
            None if referer is None else referer.decode("latin-1"),
            user_agent,
            None if country is None else country.decode("latin-1"),
            None,  # the visitor id: made at ingest from the address and agent (data.visitors)
            target.labels[index] if target.labels else None,
            ip,
        )

    def _record_click(self, target: Target, scope: Scope, now: float) -> None:
        """The click of a plain link (no rules, no password, no start date): the hot path."""
        # Its own pass over the headers, inline: every click takes this path, and a call shared
        # with the rules' cost +3.9% instructions per cached redirect (callgrind, hot_path.py).
        referrer = user_agent = country = ip = None
        private = False
        for name, value in scope["headers"]:
            if name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == self.country_header:
                country = value.decode("latin-1")
            elif name == self.ip_header:
                ip = value.decode("latin-1").split(",", 1)[0].strip()
            elif name in PRIVATE and value == b"1":
                private = True
        if ip is None:
            client = scope.get("client")
            ip = client[0] if client else ""
        assert self.clicks is not None
        if self.tracing is not None and TRACED in scope:
            self._traced(scope)
        if private:  # Sec-GPC or DNT: the click counts, nothing of its visitor is kept
            self.clicks.add(private_row(self.new_click_id(), target, now, user_agent, 0))
            return
        # The tuple of surge.data.events.click_row, built here: its call with keywords cost
        # ~600 instructions per click (1.1% of a cached redirect, callgrind), and
        # tests/redirect/test_app.py checks this row against click_row's.
        self.clicks.add(
            (
                self.new_click_id(),
                target.link_id,
                target.slug,
                now,
                referrer,
                user_agent,
                country,
                None,  # the visitor id: analytics makes it at ingest (surge.data.visitors)
                None,
                ip,  # for analytics to locate (GeoIP) and to make the visitor id; never stored
            )
        )

    def _traced(self, scope: Scope) -> None:
        """A sampled redirect's trace goes with the batch its click leaves in."""
        assert self.tracing is not None
        parent = self.tracing.current_traceparent()
        if parent is not None:
            assert self.clicks is not None
            self.clicks.link(parent)

    async def _load(self, key: str) -> Target | None:
        """A local miss of a link's key ("{domain}/{slug}"): the shared Redis tier, then the
        api."""
        found, link = await self.shared.get(key) if self.shared else (False, None)
        if not found:
            link = await self._from_api(key)
            if self.shared:
                await self.shared.offer(key, link)
        if link is None:
            return None
        return Target.build(
            link.link_id,
            link.slug,
            link.url,
            link.redirect_type,
            link.expires_at.timestamp() if link.expires_at else None,
            link.max_clicks,
            link.clicks,
            self.redirect_headers,
            link.rules or (),
            forward_query=link.forward_query,
            valid_since=link.valid_since.timestamp() if link.valid_since else None,
            lock=link.lock,
        )

    async def _from_api(self, key: str) -> ResolvedLink | None:
        domain, _, slug = key.partition("/")
        response = await self._ask_api(
            f"/internal/links/{slug}" + (f"?domain={domain}" if domain else "")
        )
        return None if response is None else ResolvedLink.model_validate_json(response.content)

    async def _ask_api(self, path: str) -> httpx.Response | None:
        """The api's 200 answer (None: its 404), through retries and its breaker."""
        assert self.api is not None
        assert self.api_breaker is not None
        try:
            async for attempt in idempotent_retries():
                with attempt:
                    async with self.api_breaker.guard():
                        response = await self.api.get(path)
                        if response.status_code not in (200, 404):
                            raise ApiUnavailable(f"api answered {response.status_code}")
        except (httpx.HTTPError, ApiUnavailable, BreakerOpen) as exc:
            CACHE_LOOKUPS.labels("api", "error").inc()
            raise ApiUnavailable(str(exc) or type(exc).__name__) from exc
        if response.status_code == 404:
            CACHE_LOOKUPS.labels("api", "negative").inc()
            return None
        CACHE_LOOKUPS.labels("api", "hit").inc()
        return response

    def _served_stale(self) -> None:
        CACHE_LOOKUPS.labels("local", "stale").inc()
