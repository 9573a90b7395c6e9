"""Surge on a Redis Cluster (SURGE_REDIS_URL=redis+cluster://...): 3 masters with a replica
each, started here. Links cached, rate limits, clicks through a sharded stream into analytics
with exact counts, invalidations reaching every listener, and a master killed mid-load with
every click counted."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from redis.asyncio import RedisCluster

from surge.analytics.consumer import ClickStreamConsumer
from surge.data.contracts import EVERYTHING, ResolvedLink
from surge.data.link_tier import SharedLinkTier
from surge.platform.config import Settings
from surge.platform.rate_limits import RateLimits
from surge.platform.redis import (
    NotReplicated,
    RedisNames,
    append_replicated,
    cluster_url,
    create_redis,
)
from surge.redirect.invalidation import InvalidationListener
from tests.conftest import Surge, running_surge
from tests.fakes import LINK
from tests.helpers import make_settings, wait_for
from tests.redis_cluster import LocalRedisCluster
from tests.services import REDIS_URL, throwaway_redis_prefix

pytestmark = pytest.mark.real_clock  # servers of the module's own, on the real clock
SHARDS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def names() -> RedisNames:
    """Each test's own prefix: the cluster is the module's, the tests stay independent."""
    return RedisNames(f"t{uuid.uuid4().hex[:8]}:")


@pytest.fixture
async def client(cluster: LocalRedisCluster) -> AsyncIterator[RedisCluster]:
    redis = create_redis(cluster.url, timeout_s=1.0)
    assert isinstance(redis, RedisCluster)
    await redis.initialize()  # the slot map, for where keys live
    yield redis
    await redis.aclose()


def surge_settings(
    tmp_path: Path, cluster: LocalRedisCluster, names: RedisNames, **extra: Any
) -> Settings:
    return make_settings(
        tmp_path,
        redis_url=cluster.url,
        redis_prefix=names.prefix,
        click_stream_shards=SHARDS,
        redis_wait_replicas=1,
        **extra,
    )


async def links(surge: Surge, headers: dict[str, str], slugs: list[str]) -> None:
    for slug in slugs:
        made = await surge.client.post(
            "/api/v1/links",
            json={"url": f"https://example.com/{slug}", "slug": slug},
            headers=headers,
        )
        assert made.status_code == 201, made.text


async def total(surge: Surge, slug: str, headers: dict[str, str]) -> int:
    stats = await surge.client.get(f"/api/v1/links/{slug}/stats", headers=headers)
    assert stats.status_code == 200, stats.text
    found: int = stats.json()["total"]
    return found


def spooled() -> float:
    return REGISTRY.get_sample_value("surge_clicks_spooled_total") or 0.0


def masters_of(client: RedisCluster, keys: list[str]) -> set[str]:
    return {client.get_node_from_key(key).name for key in keys}


async def test_rate_limits_are_counted_in_the_cluster(
    client: RedisCluster, names: RedisNames
) -> None:
    limits = RateLimits("test", redis=client, prefix=names.rate_limits)
    limit = limits.limit("key", "3/minute")
    assert limit is not None
    verdicts = [await limit.hit(f"k{n}") for n in (1, 1, 1, 1, 2)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, True]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 2]
    # Counted in the cluster, not in the fallback: the keys are there, spread by identity.
    keys = [key.decode() async for key in client.scan_iter(match=f"*{names.rate_limits}*")]
    assert len(keys) >= 2
    for key in keys:
        await client.delete(key)


async def test_a_batch_counts_as_sent_once_a_replica_holds_it(
    client: RedisCluster, names: RedisNames
) -> None:
    stream = names.click_shard(1)
    await append_replicated(client, stream, {"events": b"[]"}, replicas=1, timeout_ms=2000)
    with pytest.raises(NotReplicated, match="1 of 2 replicas"):  # each master has one
        await append_replicated(client, stream, {"events": b"[]"}, replicas=2, timeout_ms=50)
    assert await client.xlen(stream) == 2  # the master holds both; the second goes again
    await client.delete(stream)


async def test_one_redis_without_replicas_holds_every_batch_back() -> None:
    """WAIT on one Redis: the same XADD and WAIT on one connection; with no replica to
    acknowledge, nothing counts as sent (SURGE_REDIS_WAIT_REPLICAS must stay 0 there)."""
    async with throwaway_redis_prefix() as prefix:
        redis = create_redis(REDIS_URL, timeout_s=1.0)
        info: Any = await redis.info("replication")
        if info["connected_slaves"]:
            pytest.skip("the shared Redis has replicas")
        with pytest.raises(NotReplicated, match="0 of 1 replicas"):
            await append_replicated(
                redis, f"{prefix}clicks", {"events": b"[]"}, replicas=1, timeout_ms=20
            )
        assert await redis.xlen(f"{prefix}clicks") == 1
        await redis.aclose()


class Evictions:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.cleared = 0

    def evict(self, key: str) -> None:
        self.keys.add(key)

    def clear(self) -> None:
        self.cleared += 1


async def test_a_change_of_links_on_every_master_reaches_every_listener(
    cluster: LocalRedisCluster, client: RedisCluster, names: RedisNames
) -> None:
    keys = [f"/viral-{n}" for n in range(12)]
    assert len(masters_of(client, [names.link(key) for key in keys])) == 3
    listeners, heard = [], [Evictions(), Evictions()]
    for evictions in heard:  # two redirect replicas, each with a client of its own
        listener = InvalidationListener(
            create_redis(cluster.url, timeout_s=1.0), names.invalidations, evictions
        )
        listener.start()
        listeners.append(listener)
    try:
        for listener in listeners:
            await asyncio.wait_for(listener.subscribed.wait(), timeout=10)
        tier = SharedLinkTier(client, names, ttl_s=60, negative_ttl_s=60)
        link = ResolvedLink.model_validate(LINK)
        await tier.changed([(key, link) for key in keys[:-1]] + [(keys[-1], None)])

        async def all_evicted() -> bool:
            return all(set(keys) <= evictions.keys for evictions in heard)

        await wait_for(all_evicted, what="every listener to hear of every key")
        assert await tier.get(keys[0]) == (True, link)
        assert await tier.get(keys[-1]) == (True, None)  # known-unknown, shared too
        await tier.offer("/other", link)
        assert await tier.get("/other") == (True, link)
        await tier.publish(EVERYTHING)

        async def all_cleared() -> bool:
            return all(EVERYTHING in evictions.keys for evictions in heard)

        await wait_for(all_cleared, what="every listener to hear of a domain's change")
    finally:
        for listener in listeners:
            await listener.stop()
            await listener.redis.aclose()
        await client.delete(*[names.link(key) for key in [*keys, "/other"]])


async def test_clicks_of_every_shard_are_counted_once(
    tmp_path: Path, cluster: LocalRedisCluster, names: RedisNames
) -> None:
    slugs = [f"c{n}" for n in range(6)]  # link ids 1..6: every shard twice
    async with running_surge(surge_settings(tmp_path, cluster, names)) as surge:
        headers = await surge.new_key()
        await links(surge, headers, slugs)
        for n, slug in enumerate(slugs, start=1):
            for _ in range(n):
                answer = await surge.client.get(f"/{slug}")
                assert answer.status_code == 302, answer.text
        for n, slug in enumerate(slugs, start=1):
            assert (await surge.stats(slug, headers))["total"] == n
        redis = surge.redirect.redis
        assert isinstance(redis, RedisCluster)
        streams = names.click_shards(SHARDS)
        for stream in streams:  # each shard carried its links' clicks
            groups: Any = await redis.xinfo_groups(stream)
            assert groups[0]["entries-read"] >= 1, stream
        assert await redis.exists(names.link("/c0")) == 1  # the shared link tier, too
        await redis.delete(*streams, names.link("/c0"))


async def test_an_analytics_process_reads_the_shards_it_is_given(
    tmp_path: Path, cluster: LocalRedisCluster, names: RedisNames
) -> None:
    settings = surge_settings(tmp_path, cluster, names, click_stream_consume_shards="0,2")
    async with running_surge(settings) as surge:
        readers = surge.analytics.consumers
        assert [c.stream for c in readers] == [names.click_shard(0), names.click_shard(2)]
        headers = await surge.new_key()
        await links(surge, headers, ["s1", "s2", "s3"])  # link ids 1..3: shards 1, 2 and 0
        for slug in ("s1", "s2", "s3", "s1", "s2", "s3"):
            assert (await surge.client.get(f"/{slug}")).status_code == 302
        await surge.flush_clicks()
        assert [await total(surge, slug, headers) for slug in ("s1", "s2", "s3")] == [0, 2, 2]
        clicks, data = surge.analytics.clicks, surge.analytics.data
        assert clicks is not None
        assert data is not None
        assert data.redis is not None
        # Another process's consumer of shard 1 (SURGE_CLICK_STREAM_CONSUME_SHARDS=1).
        other = ClickStreamConsumer(
            data.redis, clicks, names, shard=1, claim_idle_ms=1000, read_count=100, block_ms=10
        )
        await other.step()
        assert [await total(surge, slug, headers) for slug in ("s1", "s2", "s3")] == [2, 2, 2]
        await data.redis.delete(*names.click_shards(SHARDS))


async def test_a_master_killed_mid_load_loses_no_click(
    tmp_path: Path, cluster: LocalRedisCluster
) -> None:
    """The master of one click stream shard is killed while redirects go on, its replica takes
    over, and the killed node comes back as the new master's replica (as its pod would). The
    redirects are answered throughout; batches the shard's master cannot have passed on to a
    replica (redis_wait_replicas=1: the old master's last ones, the new master's while it has
    no replica yet) wait in the spool and are sent again; every click is counted once. The
    redirect's invalidation listener was subscribed at that master too: it subscribes again
    where the channel's slot went, and hears the next change."""
    names = RedisNames(f"t{uuid.uuid4().hex[:8]}:")
    while cluster.master_of(names.invalidations) != cluster.master_of(names.click_shard(1)):
        names = RedisNames(f"t{uuid.uuid4().hex[:8]}:")
    settings = surge_settings(
        tmp_path, cluster, names, redis_timeout_s=0.5, breaker_ttl_s=0.3, stream_claim_idle_ms=500
    )
    slugs = ["k1", "k2", "k3"]  # link ids 1..3: shards 1, 2 and 0
    victim = cluster.master_of(names.click_shard(1))
    sent: Counter[str] = Counter()
    stop = asyncio.Event()
    async with running_surge(settings) as surge:
        headers = await surge.new_key()
        await links(surge, headers, slugs)

        async def load() -> None:
            while not stop.is_set():
                for slug in slugs:
                    answer = await surge.client.get(f"/{slug}")
                    assert answer.status_code == 302, answer.text
                    sent[slug] += 1
                await asyncio.sleep(0.002)

        async def sent_at_least(count: int) -> bool:
            return sum(sent.values()) >= count

        spooled_before = spooled()
        loading = asyncio.create_task(load())
        try:
            await wait_for(lambda: sent_at_least(300), what="load before the kill")
            failover_s = await asyncio.to_thread(cluster.fail_over, victim)
            await asyncio.to_thread(cluster.restart, victim)
            await asyncio.to_thread(cluster.wait_healthy)
            back_at = sum(sent.values())
            await wait_for(lambda: sent_at_least(back_at + 300), what="load after the failover")
        finally:
            stop.set()
            await loading
            if victim.process is None or victim.process.poll() is not None:
                await asyncio.to_thread(cluster.restart, victim)  # the module's cluster, whole
        clicks = surge.redirect.clicks
        assert clicks is not None

        async def all_counted() -> bool:
            await clicks.flush()  # what is buffered, and what waits in the spool
            return all([await total(surge, slug, headers) >= sent[slug] for slug in slugs])

        # ~5 s alone; a busy machine's full suite once needed more than 20 (spooled batches
        # wait for the breaker and the new master's replica).
        await wait_for(all_counted, timeout_s=60, what="every click counted")
        assert {slug: await total(surge, slug, headers) for slug in slugs} == dict(sent)

        redirect = surge.redirect
        assert redirect.invalidations is not None
        assert redirect.redis is not None
        listener = redirect.invalidations
        await asyncio.wait_for(listener.subscribed.wait(), timeout=10)
        assert (await surge.client.get("/k1")).status_code == 302
        assert redirect.cache.peek("/k1") is not None
        await SharedLinkTier(redirect.redis, names, ttl_s=60, negative_ttl_s=60).publish("/k1")

        async def evicted() -> bool:
            return redirect.cache.peek("/k1") is None

        await wait_for(evicted, what="the invalidation to reach the resubscribed listener")
        await redirect.redis.delete(*names.click_shards(SHARDS))
    assert spooled() > spooled_before  # the failover did hold batches back
    assert failover_s < 10  # a short node timeout: about a second or two


def test_a_cluster_is_named_by_its_url_scheme() -> None:
    assert cluster_url("redis+cluster://:pw@cache:7000") == "redis://:pw@cache:7000"
    assert cluster_url("rediss+cluster://cache:7000") == "rediss://cache:7000"
    assert cluster_url("redis://cache:6379/0") is None


def test_shards_to_read_and_a_prefix_that_would_pin_every_key_to_one_slot(
    tmp_path: Path,
) -> None:
    assert make_settings(tmp_path, click_stream_shards=4).consumed_click_shards == [0, 1, 2, 3]
    chosen = make_settings(tmp_path, click_stream_shards=4, click_stream_consume_shards="0-2,7")
    assert chosen.consumed_click_shards == [0, 1, 2, 7]  # 7: a stream left to drain
    names = RedisNames("surge:")
    assert names.click_shards(3) == ["surge:clicks", "surge:clicks:1", "surge:clicks:2"]
    with pytest.raises(ValidationError, match="braces"):
        make_settings(tmp_path, redis_url="redis+cluster://cache:7000", redis_prefix="{surge}:")
    make_settings(tmp_path, redis_url="redis://cache:6379/0", redis_prefix="{surge}:")
