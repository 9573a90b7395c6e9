"""The Redis tier of slug lookups: read and offered by every redirect replica, written by the api.

One place owns the entries' format and lifetimes, which links may be shared at all, and the
write rules that keep the tier from going stale: a replica only *offers* what it read from the
api (SET NX), while the api, after a change, *overwrites* the entry and publishes the slug, so
a slower replica's older read can never replace the api's newer write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from redis.exceptions import RedisClusterException, RedisError

from surge.data.contracts import ResolvedLink
from surge.platform.breakers import Breaker, BreakerOpen
from surge.platform.logging import get_logger
from surge.platform.metrics import CACHE_LOOKUPS
from surge.platform.redis import RedisClient, RedisNames

log = get_logger(__name__)
# The entry of a slug that does not exist (negative caching shared across replicas).
NEGATIVE = b"null"


class SharedLinkTier:
    def __init__(
        self,
        redis: RedisClient,
        names: RedisNames,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        breaker: Breaker | None = None,
    ) -> None:
        """`breaker`: a replica's reads and offers fail fast while Redis is failing."""
        self.redis = redis
        self.breaker = breaker
        self.names = names
        self.ttl_ms = int(ttl_s * 1000)
        self.negative_ttl_ms = int(negative_ttl_s * 1000)

    def _guard(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext() if self.breaker is None else self.breaker.guard()

    def _entry(self, link: ResolvedLink | None) -> tuple[bytes, int] | None:
        """What to store for a slug's state (None: unknown slug) and its TTL in ms; None when
        it must not be shared. A click-limited link's count changes with every click, so each
        replica asks the api for it instead; a password-protected link's target stays out of
        Redis, which more programs than Surge may read."""
        if link is None:
            value, ttl_ms = NEGATIVE, self.negative_ttl_ms
        elif link.max_clicks is None and link.lock is None:
            value, ttl_ms = link.model_dump_json().encode(), self.ttl_ms
        else:
            return None
        return (value, ttl_ms) if ttl_ms > 0 else None

    async def get(self, slug: str) -> tuple[bool, ResolvedLink | None]:
        """(found, the link or None for a known-unknown slug); Redis away = not found."""
        try:
            async with self._guard():
                raw = await self.redis.get(self.names.link(slug))
        except (RedisError, BreakerOpen):
            CACHE_LOOKUPS.labels("redis", "error").inc()
            return False, None
        if raw is None:
            CACHE_LOOKUPS.labels("redis", "miss").inc()
            return False, None
        raw = raw.encode() if isinstance(raw, str) else raw
        if raw == NEGATIVE:
            CACHE_LOOKUPS.labels("redis", "negative").inc()
            return True, None
        CACHE_LOOKUPS.labels("redis", "hit").inc()
        return True, ResolvedLink.model_validate_json(raw)

    async def offer(self, slug: str, link: ResolvedLink | None) -> None:
        """A replica shares what the api told it, unless the api has written since (NX)."""
        entry = self._entry(link)
        if entry is not None:
            with contextlib.suppress(RedisError, BreakerOpen):
                async with self._guard():
                    await self.redis.set(self.names.link(slug), entry[0], px=entry[1], nx=True)

    async def changed(self, changes: Sequence[tuple[str, ResolvedLink | None]]) -> None:
        """The api after a change of links, each (the key it is cached under, "{domain}/{slug}";
        its new state, None: gone): the new state replaces the entry, or removes it when it
        must not be shared, and then every replica is told to evict its local copy.

        The entries first (one pipeline), then the invalidations: a replica told to evict must
        find the new state in Redis. One transaction would do on one Redis but not on a
        cluster, where the entries live on several masters (a transaction must stay on one
        slot) and a pipeline sends to each master at once, so the invalidation could overtake
        the write."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug, link in changes:
                    key = self.names.link(slug)
                    entry = self._entry(link)
                    if entry is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, entry[0], px=entry[1])
                await pipe.execute()
            for slug, _ in changes:  # (a cluster pipeline refuses PUBLISH)
                await self.redis.publish(self.names.invalidations, slug)
        except (RedisError, RedisClusterException) as exc:
            slug = changes[0][0] if changes else ""
            log.warning("invalidation_publish_failed", slug=slug, n=len(changes), error=repr(exc))

    async def publish(self, key: str) -> None:
        """Every replica evicts `key` (EVERYTHING: its whole local cache)."""
        try:
            await self.redis.publish(self.names.invalidations, key)
        except (RedisError, RedisClusterException) as exc:
            log.warning("invalidation_publish_failed", slug=key, error=repr(exc))
