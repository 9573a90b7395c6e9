"""Redis: the client (created in a lifespan) and the names of every key, stream and channel.

`SURGE_REDIS_URL` names one Redis (`redis://`, `rediss://`, `unix://`) or a Redis Cluster
(`redis+cluster://host:port`, `rediss+cluster://` with TLS: any node or the provider's
configuration endpoint; redis-py discovers the rest). The same commands run on both; what has
to hold on a cluster (no command or transaction spans two slots) is said at `RedisNames`.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import PipelineCommand
from redis.exceptions import RedisClusterException, RedisError, SlotNotCoveredError

from surge.platform.config import Settings
from surge.platform.tracing import active as active_tracing

# One Redis or a cluster: every Surge command works on both (tests/platform/test_redis_cluster).
RedisClient = Redis | RedisCluster
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain URL redis-py's cluster client takes, when `url` names a cluster; else None."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    return f"{plain}{sep}{rest}" if sep and plain else None


def create_redis(url: str, *, timeout_s: float) -> RedisClient:
    """Every command has a timeout; a hung Redis must not hang a request or the flusher."""
    plain = cluster_url(url)
    if plain is not None:
        return RedisCluster.from_url(
            plain,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
        )
    return Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
    )


class NotReplicated(RedisError):
    """A write its master took that fewer replicas than asked for acknowledged in time."""


async def append_replicated(
    redis: RedisClient, stream: str, fields: dict[Any, Any], *, replicas: int, timeout_ms: int
) -> None:
    """XADD, then WAIT for `replicas` replicas of the stream's master, on the same connection
    (WAIT counts the writes of its own connection). Raises NotReplicated when they do not
    acknowledge it within `timeout_ms`: a failover then could lose the entry, so the caller
    keeps it and sends it again (ingest dedupes)."""
    if isinstance(redis, RedisCluster):
        acked = await _append_at_master(redis, stream, fields, replicas, timeout_ms)
    else:
        async with redis.pipeline(transaction=False) as pipe:  # a retry resends both
            pipe.xadd(stream, fields)
            pipe.execute_command("WAIT", replicas, timeout_ms)
            acked = (await pipe.execute())[1]
    if acked < replicas:
        raise NotReplicated(f"{stream}: {acked} of {replicas} replicas acknowledged")


async def _append_at_master(
    cluster: RedisCluster, stream: str, fields: dict[Any, Any], replicas: int, timeout_ms: int
) -> int:
    """XADD and WAIT as one pipeline on one connection to the master of the stream's slot.
    Not a cluster pipeline: after a connection error it resends only the commands that
    failed, and a WAIT sent again alone, elsewhere, would count nothing of ours and report
    success for an entry that may have died with its master."""
    await cluster.initialize()
    node = cluster.get_node_from_key(stream)
    if node is None:
        raise SlotNotCoveredError(f"no master serves the slot of {stream}")
    xadd = PipelineCommand(0, "XADD", stream, "*", *itertools.chain(*fields.items()))
    wait = PipelineCommand(1, "WAIT", replicas, timeout_ms)
    try:
        await node.execute_pipeline([xadd, wait])
        for command in (xadd, wait):
            if isinstance(command.result, Exception):
                raise command.result
    except (RedisError, OSError):
        # A failover or a moved slot: read the slot map again for the next try, as the
        # client's own commands do when they meet such an error.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await cluster.nodes_manager.initialize()
        raise
    acked: Any = wait.result  # WAIT's count: an error was raised above
    return int(acked)


def redis_unavailable(exc: BaseException) -> bool:
    """What trips a Redis breaker: no answer in time, or no connection (on a cluster also: no
    node serves the slot yet, as during a failover)."""
    return isinstance(exc, RedisError | RedisClusterException | OSError | TimeoutError)


def redis_from_settings(settings: Settings) -> RedisClient | None:
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
    """Every name Surge uses in Redis, under `prefix`.

    On a cluster each command and each transaction must stay on one hash slot. None of
    Surge's spans two of these names: a link entry is read and written alone (its change and
    the invalidation are two round trips, not one transaction: link_tier.SharedLinkTier); a
    rate limit's two window keys carry the limits library's hash tag (`{<prefix>ratelimit...}`);
    each click stream shard is read, acknowledged and trimmed alone, and classic pub/sub is not
    slotted. So no name needs a hash tag of its own, names are what they were before clusters,
    and the keys spread over every master; a prefix with braces would pin them all to one slot
    (Settings refuses it with a cluster URL).
    """

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
        """The click stream (shard 0 when it is split: the one stream of a single-stream
        deployment keeps its name and its backlog)."""
        return f"{self.prefix}clicks"

    def click_shard(self, shard: int) -> str:
        """Shard `shard` of the click stream (link id modulo the shard count picks it)."""
        return self.clicks if shard == 0 else f"{self.prefix}clicks:{shard}"

    def click_shards(self, count: int) -> list[str]:
        return [self.click_shard(shard) for shard in range(count)]

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
