"""Rate limits and quotas (the `limits` library): how many requests one API key or one client
IP may make in a window, and how many links a key may create a day.

Counted in Redis when it is configured, so replicas share one budget; otherwise in the
process. Sliding-window counters: two integers per identity and window, so a limit of 1,200 a
minute costs what a limit of 10 does (a moving window would keep 1,200 timestamps). When Redis
fails, each process counts on its own (and counts the error): a Redis outage must not turn
into an API outage, nor into a window without limits where passwords can be guessed at the
speed of the machine; each replica then admits up to the limit, and the breaker keeps a hung
Redis from costing each request its timeout.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.util import WindowStats
from redis.asyncio import RedisCluster

from surge.platform.breakers import Breaker, BreakerOpen
from surge.platform.clock import unix_time
from surge.platform.metrics import RATE_LIMIT_ERRORS, RATE_LIMITED
from surge.platform.problems import RATE_LIMITED as RATE_LIMITED_PROBLEM
from surge.platform.problems import ProblemError
from surge.platform.redis import RedisClient


@dataclass(slots=True, frozen=True)
class Verdict:
    """One check of one limit: whether the request may go on, and the `RateLimit-*` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the window has room again
    window_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_s))
        return headers


class Limit:
    """One named limit ("key", "ip", "auth_failures", ...): `hit` spends one request."""

    def __init__(self, name: str, spec: str, limits: RateLimits) -> None:
        self.name = name
        self.item: RateLimitItem = parse(spec)
        self.limits = limits

    async def hit(self, identity: str, cost: int = 1) -> Verdict:
        """Spend `cost` requests at once (a batch of that many); a refused hit spends none."""
        return await self.limits.check(self, identity, spend=True, cost=cost)

    async def peek(self, identity: str) -> Verdict:
        """Where the budget stands, spending nothing (`allowed`: one more hit would pass)."""
        return await self.limits.check(self, identity, spend=False)

    def refuse(self, verdict: Verdict, detail: str) -> ProblemError:
        RATE_LIMITED.labels(self.limits.service, self.name).inc()
        return RATE_LIMITED_PROBLEM(detail, headers=verdict.headers())


class SharedClusterStorage(RedisClusterStorage):
    """The limits library's Redis Cluster storage on the service's own cluster client: as on
    one Redis, no second pool to open and close, same timeouts. (The library takes a pool
    for one Redis but builds its cluster client itself; `configure_bridge` is where each
    storage sets its client up.) Each limit's two window keys carry the library's hash tag, so
    its Lua scripts stay on one slot."""

    def __init__(self, cluster: RedisCluster, *, key_prefix: str) -> None:
        self.cluster = cluster
        nodes = ",".join(f"{node.host}:{node.port}" for node in cluster.startup_nodes)
        super().__init__(
            f"async+redis+cluster://{nodes}",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
        )

    def configure_bridge(self) -> None:
        bridge = self.bridge
        assert isinstance(bridge, RedispyBridge)
        bridge.storage = self.cluster
        # limits' own protocol for clients, narrower than redis-py's signatures: passed through
        bridge.connection_getter = lambda _readonly: self.cluster  # type: ignore[assignment,return-value]


class RateLimits:
    def __init__(
        self,
        service: str,
        *,
        redis: RedisClient | None = None,
        prefix: str = "",
        breaker: Breaker | None = None,
    ) -> None:
        self.service = service
        self.breaker = breaker
        storage: Storage
        if redis is None:
            storage = MemoryStorage()
        elif isinstance(redis, RedisCluster):
            storage = SharedClusterStorage(redis, key_prefix=prefix.rstrip(":"))
        else:
            # The service's own connection pool: no second pool, same timeouts.
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed through
                key_prefix=prefix.rstrip(":"),
                wrap_exceptions=True,
            )
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        # Where the process counts while Redis cannot (a memory storage does not fail).
        self.fallback = None if redis is None else SlidingWindowCounterRateLimiter(MemoryStorage())

    def limit(self, name: str, spec: str) -> Limit | None:
        """The limit `spec` ("1200/minute") under `name`, or None when `spec` is empty (off)."""
        return Limit(name, spec, self) if spec else None

    async def check(self, limit: Limit, identity: str, *, spend: bool, cost: int = 1) -> Verdict:
        item = limit.item
        window_s = item.get_expiry()
        guard = self.breaker.guard() if self.breaker is not None else contextlib.nullcontext()
        try:
            async with guard:
                allowed, stats = await self._check(
                    self.limiter, item, limit.name, identity, spend, cost
                )
        except (StorageError, BreakerOpen, OSError, TimeoutError):
            RATE_LIMIT_ERRORS.labels(self.service).inc()
            if self.fallback is None:
                return Verdict(True, item.amount, item.amount, window_s, window_s)
            allowed, stats = await self._check(
                self.fallback, item, limit.name, identity, spend, cost
            )
        reset_s = max(0, math.ceil(stats.reset_time - unix_time()))
        return Verdict(allowed, item.amount, stats.remaining, reset_s, window_s)

    @staticmethod
    async def _check(
        limiter: SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        name: str,
        identity: str,
        spend: bool,
        cost: int,
    ) -> tuple[bool, WindowStats]:
        if spend:
            allowed = await limiter.hit(item, name, identity, cost=cost)
        else:
            allowed = await limiter.test(item, name, identity, cost=cost)
        return allowed, await limiter.get_window_stats(item, name, identity)
