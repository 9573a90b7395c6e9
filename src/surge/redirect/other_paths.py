"""The redirect service's paths that are not redirects: error pages, health, /metrics and the
internal invalidation endpoint, as a mixin of `RedirectService` (kept apart from its hot path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.types import Receive, Scope, Send

from surge.data.contracts import SLUG_PATTERN, Invalidation
from surge.platform.http import INTERNAL_TOKEN_HEADER, client_ip, internal_token_ok
from surge.platform.metrics import UNMATCHED_ROUTE, exposition
from surge.platform.problems import FORBIDDEN, PROBLEM_CONTENT_TYPE, VALIDATION_ERROR, ProblemType
from surge.platform.readiness import readiness_status
from surge.redirect.responses import METHOD_NOT_ALLOWED, NOT_FOUND, Headers, Page
from surge.redirect.robots import ROBOTS_PATH

if TYPE_CHECKING:
    from surge.data.link_tier import SharedLinkTier
    from surge.platform.breakers import Breaker
    from surge.platform.cache import LocalCache
    from surge.platform.config import Settings
    from surge.platform.rate_limits import Limit
    from surge.redirect.clicks import ClickBuffer
    from surge.redirect.invalidation import Caches
    from surge.redirect.responses import Target

JSON = b"application/json"
PROBLEM = PROBLEM_CONTENT_TYPE.encode()
_TOKEN_HEADER = INTERNAL_TOKEN_HEADER.encode()
SLUG_ROUTE = "/{slug}"
INVALIDATE_PATH = "/internal/redirect/invalidate"
# Paths that are not slugs; each is its own route label.
OWN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", INVALIDATE_PATH})


def route_of(path: str) -> str:
    """The route template of a path: its own name, or the slug route."""
    if path in OWN_PATHS or path == ROBOTS_PATH:
        return path
    return SLUG_ROUTE if SLUG_PATTERN.fullmatch(path[1:]) else UNMATCHED_ROUTE


class OtherPaths:
    settings: Settings
    ip_limit: Limit | None
    ip_header: bytes
    page_headers: Headers  # security headers of every page (platform/security_headers.py)
    cache: LocalCache[str, Target]
    caches: Caches
    clicks: ClickBuffer | None
    api_breaker: Breaker | None
    shared: SharedLinkTier | None

    def _observe(self, route: str, method: str, status: int, start: float) -> None:
        raise NotImplementedError

    async def _not_a_redirect(
        self, scope: Scope, receive: Receive, send: Send, start: float
    ) -> None:
        path: str = scope["path"]
        route = route_of(path)
        if path.startswith("/internal/"):
            status = await self._internal(scope, receive, send)
        elif path == "/metrics":
            body, content_type = exposition()
            status = await self._reply(send, 200, body, content_type.encode())
        elif path in ("/healthz", "/readyz"):
            status = await self._health(path, send)
        else:
            status = await self._page(METHOD_NOT_ALLOWED, scope, send, [(b"allow", b"GET, HEAD")])
        self._observe(route, scope["method"], status, start)

    async def _page(
        self, page: Page, scope: Scope, send: Send, extra: Headers | None = None
    ) -> int:
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
                "headers": headers + self.page_headers + (extra or []),
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        return page.status

    async def _to_the_dashboard(self, scope: Scope, send: Send) -> bool:
        """A browser opening the short domain's root goes to the dashboard (or wherever
        SURGE_ROOT_REDIRECT says); an API client gets the JSON 404 instead."""
        accept = next((v for n, v in scope["headers"] if n == b"accept"), b"")
        if b"text/html" not in accept:
            return False
        location = self.settings.root_redirect.encode("latin-1")
        headers = [(b"location", location), (b"content-length", b"0"), *self.page_headers]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _over_ip_limit(self, scope: Scope, send: Send, start: float) -> bool:
        """The optional per-IP limit of redirects (and of requests that would be orphan
        visits): True (and a 429 sent) when it is spent."""
        assert self.ip_limit is not None
        verdict = await self.ip_limit.hit(client_ip(scope, self.ip_header))
        if verdict.allowed:
            return False
        refused = self.ip_limit.refuse(verdict, "Too many requests from this address.")
        headers = [(k.lower().encode(), v.encode()) for k, v in refused.headers.items()]
        body = refused.problem.body(refused.detail)
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [(b"content-type", PROBLEM), *headers, *self.page_headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self._observe(route_of(scope["path"]), scope["method"], 429, start)
        return True

    async def _reply(self, send: Send, status: int, body: bytes, content_type: bytes) -> int:
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status

    async def _json(self, send: Send, status: int, payload: object) -> int:
        return await self._reply(send, status, orjson.dumps(payload), JSON)

    async def _problem(self, send: Send, problem: ProblemType, detail: str) -> int:
        return await self._reply(send, problem.status, problem.body(detail), PROBLEM)

    async def _health(self, path: str, send: Send) -> int:
        if path == "/healthz":
            return await self._json(send, 200, {"status": "ok"})
        flushing = self.clicks is not None and self.clicks.running
        checks = {"click_flusher": "ok" if flushing else "stopped"}
        if self.api_breaker is not None and self.api_breaker.open:
            checks["api"] = "degraded: failing, serving cached links only"
        if self.shared is not None and self.shared.breaker and self.shared.breaker.open:
            checks["redis"] = "degraded: failing, clicks go to the spool"
        status, code = readiness_status(checks)
        return await self._json(send, code, {"status": status, "checks": checks})

    async def _internal(self, scope: Scope, receive: Receive, send: Send) -> int:
        token = dict(scope["headers"]).get(_TOKEN_HEADER)
        if not internal_token_ok(
            token.decode("latin-1") if token else None, self.settings.internal_token
        ):
            return await self._problem(send, FORBIDDEN, "Internal endpoint: token required.")
        if scope["path"] != INVALIDATE_PATH or scope["method"] != "POST":
            return await self._page(NOT_FOUND, scope, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            slugs = Invalidation.model_validate_json(body).slugs
        except ValueError:
            return await self._problem(send, VALIDATION_ERROR, "Invalid invalidation")
        for slug in slugs:
            self.caches.evict(slug)
        return await self._json(send, 200, {"evicted": len(slugs)})
