"""The api's rate limits: per client IP on every API request, per key once authenticated,
failed authentications per IP, the optional links-per-day quota per key, and failed sign-ins
to the dashboard per address and per email. Each check adds
its `RateLimit-*` headers to the answer; a spent budget is a 429 with `Retry-After`."""

from __future__ import annotations

from starlette.requests import Request

from surge.platform.config import Settings
from surge.platform.http import client_ip
from surge.platform.rate_limits import Limit, RateLimits, Verdict
from surge.platform.security_headers import add_response_headers

VERDICT = "surge.rate_limit"  # scope key: the most restrictive verdict of this request


class ApiLimits:
    def __init__(self, settings: Settings, limits: RateLimits) -> None:
        self.ip_header = (settings.client_ip_header or "").encode()
        self.per_ip = limits.limit("ip", settings.rate_limit_per_ip)
        self.per_key = limits.limit("key", settings.rate_limit_per_key)
        self.auth_failures = limits.limit("auth_failures", settings.rate_limit_auth_failures)
        self.links_per_day = (
            limits.limit("links_per_day", f"{settings.links_per_key_per_day}/day")
            if settings.links_per_key_per_day
            else None
        )
        self.sign_in = limits.limit("sign_in", settings.rate_limit_sign_in)

    def _sign_in_identities(self, request: Request, email: str) -> tuple[str, str]:
        return f"ip:{client_ip(request.scope, self.ip_header)}", f"email:{email.lower()}"

    async def sign_in_refused(self, request: Request, email: str) -> bool:
        """Whether this address or this email failed to sign in too often (nothing spent)."""
        if self.sign_in is None:
            return False
        who = self._sign_in_identities(request, email)
        return any([not (await self.sign_in.peek(identity)).allowed for identity in who])

    async def sign_in_failed(self, request: Request, email: str) -> None:
        if self.sign_in is not None:
            for identity in self._sign_in_identities(request, email):
                await self.sign_in.hit(identity)

    async def before_auth(self, request: Request) -> str:
        """Spend the client IP's budget; refuse an IP that failed authentication too often."""
        ip = client_ip(request.scope, self.ip_header)
        if self.per_ip is not None:
            await self._spend(request, self.per_ip, ip, "Too many requests from this address.")
        if (
            self.auth_failures is not None
            and not (verdict := await self.auth_failures.peek(ip)).allowed
        ):
            raise self.auth_failures.refuse(
                verdict, "Too many failed authentications from this address; wait and retry."
            )
        return ip

    async def failed_auth(self, ip: str) -> None:
        if self.auth_failures is not None:
            await self.auth_failures.hit(ip)

    async def after_auth(self, request: Request, key_id: int) -> None:
        if self.per_key is not None:
            await self._spend(request, self.per_key, str(key_id), "Too many requests for this key.")

    async def link_created(self, request: Request, key_id: int, count: int = 1) -> None:
        """Spend `count` of the key's links for today (the quota, when one is set); a batch
        that would overspend it spends nothing."""
        if self.links_per_day is not None:
            verdict = await self.links_per_day.hit(str(key_id), count)
            if not verdict.allowed:
                raise self.links_per_day.refuse(
                    verdict, "This key has created as many links as it may today."
                )

    async def batch(self, request: Request, key_id: int, count: int) -> None:
        """A batch of `count` items costs the key what `count` single requests would: the
        request itself was counted by `after_auth`, each further item is counted here (all or
        none: a batch the budget cannot pay for is refused and spends nothing more)."""
        if self.per_key is not None and count > 1:
            detail = f"Too many requests for this key (a batch of {count} counts as {count})."
            await self._spend(request, self.per_key, str(key_id), detail, count - 1)

    async def _spend(
        self, request: Request, limit: Limit, identity: str, detail: str, cost: int = 1
    ) -> Verdict:
        verdict = await limit.hit(identity, cost)
        if not verdict.allowed:
            raise limit.refuse(verdict, detail)
        # The answer tells of the limit closest to being spent, whatever the route returns.
        shown: Verdict | None = request.scope.get(VERDICT)
        if shown is None or verdict.remaining < shown.remaining:
            request.scope[VERDICT] = verdict
            add_response_headers(request.scope, verdict.headers())
        return verdict
