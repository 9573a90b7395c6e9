"""Redis: the client (created in a lifespan) and the names of every key, stream and channel."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis


def create_redis(url: str, *, timeout_s: float) -> Redis:
    """Every command has a timeout; a hung Redis must not hang a request or the flusher."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )


@dataclass(frozen=True, slots=True)
class RedisNames:
    prefix: str

    def link(self, slug: str) -> str:
        return f"{self.prefix}link:{slug}"

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
    def analytics_group(self) -> str:
        return "analytics"
