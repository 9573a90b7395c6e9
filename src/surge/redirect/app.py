"""The redirect service: `GET|HEAD /{slug}` from the local cache tier, lean pure ASGI.

FastAPI costs 2-3x the throughput of bare ASGI here (docs/adr/0001-lean-redirect.md), so this
module routes by hand: a handful of exact paths, and everything else is a slug.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson
from redis.asyncio import Redis
from starlette.types import Receive, Scope, Send

from surge.data.contracts import SLUG_PATTERN, Invalidation, ResolvedLink
from surge.data.events import click_ids, click_row
from surge.data.link_tier import SharedLinkTier
from surge.platform.cache import ABSENT, LocalCache
from surge.platform.config import Settings
from surge.platform.http import INTERNAL_TOKEN_HEADER, internal_client, internal_token_ok
from surge.platform.logging import get_logger
from surge.platform.problems import (
    FORBIDDEN,
    PROBLEM_CONTENT_TYPE,
    VALIDATION_ERROR,
    ProblemType,
)
from surge.platform.redis import RedisNames, redis_from_settings
from surge.redirect.clicks import ClickBuffer, ClickSink, HttpClickSink, RedisStreamSink
from surge.redirect.invalidation import InvalidationListener
from surge.redirect.responses import (
    GONE,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    UNAVAILABLE,
    Headers,
    Page,
    Target,
)
from surge.redirect.spool import Spool
from surge.redirect.visitor import VisitorHasher

log = get_logger(__name__)
JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
_TOKEN_HEADER = INTERNAL_TOKEN_HEADER.encode()


class ApiUnavailable(Exception):
    pass


class RedirectService:
    name = "redirect"

    def __init__(
        self,
        settings: Settings,
        *,
        api_transport: httpx.AsyncBaseTransport | None = None,
        analytics_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.api_transport = api_transport
        self.analytics_transport = analytics_transport
        self.clock = clock
        self.cache: LocalCache[str, Target] = LocalCache(
            settings.cache_size, settings.cache_ttl_s, settings.negative_cache_ttl_s
        )
        self.visitors = VisitorHasher(settings.visitor_salt_secret)
        self.new_click_id = click_ids()
        self.country_header = (settings.country_header or "").encode()
        self.ip_header = (settings.client_ip_header or "").encode()
        self.names = RedisNames(settings.redis_prefix)
        self.api: httpx.AsyncClient | None = None
        self.analytics: httpx.AsyncClient | None = None
        self.redis: Redis | None = None
        self.shared: SharedLinkTier | None = None
        self.clicks: ClickBuffer | None = None
        self.invalidations: InvalidationListener | None = None
        self.app = self

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
        sink: ClickSink = HttpClickSink(self.analytics)
        self.redis = redis_from_settings(s)
        if self.redis is not None:
            self.shared = SharedLinkTier(
                self.redis, self.names, ttl_s=s.cache_ttl_s, negative_ttl_s=s.negative_cache_ttl_s
            )
            sink = RedisStreamSink(self.redis, self.names.clicks)
            self.invalidations = InvalidationListener(
                self.redis, self.names.invalidations, self.cache
            )
            self.invalidations.start()
        self.clicks = ClickBuffer(
            sink,
            interval_s=s.click_flush_interval_ms / 1000,
            batch_size=s.click_batch_size,
            limit=s.click_buffer_limit,
            spool=Spool(s.spool_dir),
        )
        self.clicks.start()

    async def stop(self) -> None:
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
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/internal/"):
            await self._internal(scope, receive, send)
            return
        if path in ("/healthz", "/readyz"):
            await self._health(path, send)
            return
        if method != "GET" and method != "HEAD":
            await self._page(METHOD_NOT_ALLOWED, scope, send, [(b"allow", b"GET, HEAD")])
            return
        slug = path[1:]
        if not SLUG_PATTERN.fullmatch(slug):
            await self._page(NOT_FOUND, scope, send)
            return
        cached = self.cache.peek(slug)
        if cached is None:
            try:
                target = await self.cache.get_or_load(slug, self._load)
            except ApiUnavailable:
                await self._page(UNAVAILABLE, scope, send, [(b"retry-after", b"5")])
                return
        else:
            target = None if cached is ABSENT else cached  # type: ignore[assignment]
        if target is None:
            await self._page(NOT_FOUND, scope, send)
            return
        now = self.clock()
        if (target.expires_at is not None and now >= target.expires_at) or (
            target.max_clicks is not None
            and target.clicks_before + target.served >= target.max_clicks
        ):
            await self._page(GONE, scope, send)
            return
        await send(
            {"type": "http.response.start", "status": target.status, "headers": target.headers}
        )
        await send({"type": "http.response.body", "body": b""})
        if method == "GET":  # HEAD is link checkers and unfurlers, not people: not a click
            target.served += 1
            self._record_click(target, scope, now)

    def _record_click(self, target: Target, scope: Scope, now: float) -> None:
        referrer = user_agent = country = ip = None
        for name, value in scope["headers"]:
            if name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == self.country_header:
                country = value.decode("latin-1")
            elif name == self.ip_header:
                ip = value.decode("latin-1").split(",", 1)[0].strip()
        if ip is None:
            client = scope.get("client")
            ip = client[0] if client else ""
        assert self.clicks is not None
        self.clicks.add(
            click_row(
                id=self.new_click_id(),
                link_id=target.link_id,
                slug=target.slug,
                ts=now,
                referrer=referrer,
                user_agent=user_agent,
                country=country,
                visitor=self.visitors.visitor_id(ip, user_agent or "", now),
            )
        )

    async def _load(self, slug: str) -> Target | None:
        """A local miss: the shared Redis tier, then the api."""
        found, link = await self.shared.get(slug) if self.shared else (False, None)
        if not found:
            link = await self._from_api(slug)
            if self.shared:
                await self.shared.offer(slug, link)
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
        )

    async def _from_api(self, slug: str) -> ResolvedLink | None:
        assert self.api is not None
        try:
            response = await self.api.get(f"/internal/links/{slug}")
        except httpx.HTTPError as exc:
            raise ApiUnavailable(str(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiUnavailable(f"api answered {response.status_code}")
        return ResolvedLink.model_validate_json(response.content)

    # --- the rest: error pages, health, internal -----------------------------------------------

    async def _page(
        self, page: Page, scope: Scope, send: Send, extra: Headers | None = None
    ) -> None:
        accept = b""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value
                break
        body, headers = page.negotiate(accept)
        await send(
            {
                "type": "http.response.start",
                "status": page.status,
                "headers": headers + (extra or []),
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _json(self, send: Send, status: int, payload: object) -> None:
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": orjson.dumps(payload)})

    async def _problem(self, send: Send, problem: ProblemType, detail: str) -> None:
        headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": problem.body(detail)})

    async def _health(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await self._json(send, 200, {"status": "ok"})
            return
        flushing = self.clicks is not None and self.clicks.running
        checks = {"click_flusher": "ok" if flushing else "stopped"}
        await self._json(
            send,
            200 if flushing else 503,
            {"status": "ok" if flushing else "unavailable", "checks": checks},
        )

    async def _internal(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = dict(scope["headers"]).get(_TOKEN_HEADER)
        if not internal_token_ok(
            token.decode("latin-1") if token else None, self.settings.internal_token
        ):
            await self._problem(send, FORBIDDEN, "Internal endpoint: token required.")
            return
        if scope["path"] != "/internal/redirect/invalidate" or scope["method"] != "POST":
            await self._page(NOT_FOUND, scope, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            slugs = Invalidation.model_validate_json(body).slugs
        except ValueError:
            await self._problem(send, VALIDATION_ERROR, "Invalid invalidation")
            return
        for slug in slugs:
            self.cache.evict(slug)
        await self._json(send, 200, {"evicted": len(slugs)})
