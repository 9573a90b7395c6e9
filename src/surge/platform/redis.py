"""Redis: the client (created in a lifespan) and the names of every key, stream and channel."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from surge.platform.config import Settings
from surge.platform.tracing import active as active_tracing


def create_redis(url: str, *, timeout_s: float) -> Redis:
    """Every command has a timeout; a hung Redis must not hang a request or the flusher."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )


def redis_unavailable(exc: BaseException) -> bool:
    """What trips a Redis breaker: no answer in time, or no connection."""
    return isinstance(exc, RedisError | OSError | TimeoutError)


def redis_from_settings(settings: Settings) -> Redis | None:
    """The configured Redis, or None: without it every service runs on its local fallbacks."""
    if not settings.redis_url:
        return None
    redis = create_redis(settings.redis_url, timeout_s=settings.redis_timeout_s)
    tracing = active_tracing()
    if tracing is not None:
        tracing.redis(redis)
    return redis


@dataclass(frozen=True, slots=True)
class RedisNames:
    prefix: str

    def link(self, slug: str) -> str:
        return f"{self.prefix}link:{slug}"

    @property
    def rate_limits(self) -> str:
        return f"{self.prefix}ratelimit:"

    @property
    def invalidations(self) -> str:
        return f"{self.prefix}invalidate"

    @property
    def clicks(self) -> str:
        return f"{self.prefix}clicks"

    @property
    def dead_clicks(self) -> str:
        return f"{self.prefix}clicks:dead"

    @property
    def live(self) -> str:
        """The capped stream of the live feed (analytics → every api's dashboard)."""
        return f"{self.prefix}live"

    @property
    def analytics_group(self) -> str:
        return "analytics"
