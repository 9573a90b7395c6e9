"""`POST /{slug}`: a password sent for a protected link, as a mixin of `RedirectService` (kept
apart from its hot path; surge.redirect.unlock has the page, the cookie and the limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from starlette.types import Receive, Scope, Send

from surge.data.contracts import SLUG_PATTERN
from surge.platform.breakers import BreakerOpen
from surge.platform.cache import ABSENT
from surge.platform.metrics import UNMATCHED_ROUTE
from surge.redirect.other_paths import SLUG_ROUTE
from surge.redirect.responses import (
    GONE,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    UNAVAILABLE,
    ApiUnavailable,
    Headers,
    Page,
    Site,
    Target,
)
from surge.redirect.unlock import (
    PASSWORD_WRONG,
    TOO_MANY_ATTEMPTS,
    UnlockCookies,
    attempt_allowed,
    read_password,
    send_locked,
    unlock_body,
)

if TYPE_CHECKING:
    from surge.data.events import ClickRow
    from surge.platform.breakers import Breaker
    from surge.platform.cache import LocalCache
    from surge.platform.rate_limits import Limit
    from surge.redirect.clicks import ClickBuffer
    from surge.redirect.invalidation import Caches


class ProtectedLinks:
    cache: LocalCache[str, Target]
    caches: Caches
    api: httpx.AsyncClient | None
    api_breaker: Breaker | None
    unlocks: UnlockCookies
    password_ip_limit: Limit | None
    password_limit: Limit | None
    ip_header: bytes
    redirect_headers: Headers
    clicks: ClickBuffer | None

    # Provided by RedirectService and OtherPaths.
    def _observe(self, route: str, method: str, status: int, start: float) -> None:
        raise NotImplementedError

    async def _page(
        self, page: Page, scope: Scope, send: Send, extra: Headers | None = None
    ) -> int:
        raise NotImplementedError

    async def _site(self, host: bytes, scope: Scope, send: Send, start: float) -> Site | None:
        raise NotImplementedError

    async def _load(self, key: str) -> Target | None:
        raise NotImplementedError

    def _ruled(
        self, target: Target, scope: Scope, method: str, now: float
    ) -> tuple[Headers, ClickRow | None]:
        raise NotImplementedError

    async def _posted(self, scope: Scope, receive: Receive, send: Send, now: float) -> None:
        """A password for the protected link at this URL: checked (rate-limited), then a 303
        to where the link sends this request, with the cookie that opens it from now on."""
        path: str = scope["path"]
        if not SLUG_PATTERN.fullmatch(path[1:]):
            status = await self._page(METHOD_NOT_ALLOWED, scope, send, [(b"allow", b"GET, HEAD")])
            self._observe(UNMATCHED_ROUTE, "POST", status, now)
            return
        status = await self._unlock(scope, receive, send, now)
        self._observe(SLUG_ROUTE, "POST", status, now)

    async def _unlock(self, scope: Scope, receive: Receive, send: Send, now: float) -> int:
        host = next((value for name, value in scope["headers"] if name == b"host"), b"")
        site = self.caches.default_hosts.get(host) or await self._site(host, scope, send, now)
        if site is None:
            return 404  # answered (unknown domain, or 503 when the api is away)
        key = site.key + scope["path"]
        try:
            cached = self.cache.peek(key)
            target = await self.cache.get_or_load(key, self._load) if cached is None else cached
        except ApiUnavailable:  # nothing to check the password against
            return await self._page(UNAVAILABLE, scope, send, [(b"retry-after", b"5")])
        if target is None or target is ABSENT:
            return await self._page(NOT_FOUND, scope, send)
        assert isinstance(target, Target)
        if target.lock is None:  # nothing to unlock: a link takes only GET and HEAD
            return await self._page(METHOD_NOT_ALLOWED, scope, send, [(b"allow", b"GET, HEAD")])
        if target.valid_since is not None and now < target.valid_since:
            return await self._page(NOT_FOUND, scope, send)
        if target.expires_at is not None and now >= target.expires_at:
            return await self._page(GONE, scope, send)
        allowed, retry_s = await attempt_allowed(
            scope, target, self.ip_header, self.password_ip_limit, self.password_limit
        )
        if not allowed:
            retry = [(b"retry-after", str(retry_s).encode()), *self.redirect_headers]
            return await send_locked(scope, send, target.slug, extra=retry, why=TOO_MANY_ATTEMPTS)
        password = await read_password(receive)
        opened = await self._api_opens(key, password) if password else False
        if opened is None:
            return await self._page(UNAVAILABLE, scope, send, [(b"retry-after", b"5")])
        if not opened:
            return await send_locked(
                scope, send, target.slug, extra=self.redirect_headers, why=PASSWORD_WRONG
            )
        headers, click = self._ruled(target, scope, "POST", now)
        headers = [*headers, self.unlocks.set_cookie(target, now)]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        if click is not None:
            target.served += 1
            assert self.clicks is not None
            self.clicks.add(click)
        return 303

    async def _api_opens(self, key: str, password: str) -> bool | None:
        """Whether the api says the password opens the link (None: the api is away)."""
        assert self.api is not None
        assert self.api_breaker is not None
        domain, _, slug = key.partition("/")
        try:
            async with self.api_breaker.guard():
                response = await self.api.post(
                    f"/internal/links/{slug}/unlock",
                    params={"domain": domain} if domain else None,
                    content=unlock_body(password),
                    headers={"content-type": "application/json"},
                )
        except (httpx.HTTPError, BreakerOpen):
            return None
        if response.status_code in (204, 403):
            return response.status_code == 204
        return None
