from __future__ import annotations

import asyncio

import pytest

from surge.platform.cache import ABSENT, LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, key: str) -> str | None:
        self.calls.append(key)
        await self.release.wait()
        if key == "boom":
            raise RuntimeError("backend down")
        return self.values.get(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_entries_live_for_their_ttl(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({"a": "A"})
    assert await cache.get_or_load("a", load) == "A"
    clock.now = 59
    assert await cache.get_or_load("a", load) == "A"
    assert load.calls == ["a"]
    clock.now = 61
    assert cache.peek("a") is None
    await cache.get_or_load("a", load)
    assert load.calls == ["a", "a"]


async def test_misses_are_cached_for_the_shorter_negative_ttl(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({})
    assert await cache.get_or_load("x", load) is None
    assert cache.peek("x") is ABSENT
    clock.now = 4
    assert await cache.get_or_load("x", load) is None
    assert len(load.calls) == 1
    clock.now = 6
    assert cache.peek("x") is None


async def test_bounded_size_drops_the_least_recently_used(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(2, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({"a": "A", "b": "B", "c": "C"})
    for key in ("a", "b", "a", "c"):
        await cache.get_or_load(key, load)
    assert len(cache) == 2
    assert cache.peek("b") is None
    assert cache.peek("a") == "A"


async def test_one_load_per_key_however_many_wait(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({"a": "A", "b": "B"})
    load.release.clear()
    waiting = [asyncio.create_task(cache.get_or_load(k, load)) for k in ["a"] * 20 + ["b"] * 5]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiting) == ["A"] * 20 + ["B"] * 5
    assert sorted(load.calls) == ["a", "b"]


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({})
    load.release.clear()
    waiting = [asyncio.create_task(cache.get_or_load("boom", load)) for _ in range(3)]
    await asyncio.sleep(0)
    load.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.peek("boom") is None
    assert load.calls == ["boom"]


async def test_an_eviction_during_a_load_keeps_the_stale_result_out(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    load = Loader({"a": "old"})
    load.release.clear()
    pending = asyncio.create_task(cache.get_or_load("a", load))
    await asyncio.sleep(0)
    load.values["a"] = "new"
    cache.evict("a")  # the link changed while the old value was on its way
    load.release.set()
    await pending
    assert cache.peek("a") is None
    assert await cache.get_or_load("a", load) == "new"


async def down(_key: str) -> str | None:
    raise RuntimeError("source down")


async def test_a_failed_reload_serves_the_last_known_value(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    assert await cache.get_or_load("a", Loader({"a": "A"})) == "A"
    clock.now = 61  # expired, and now the source is down
    assert await cache.get_or_load("a", down) == "A"
    assert cache.peek("a") == "A"  # kept another TTL: the source is asked once per TTL


async def test_no_stale_copy_once_the_source_said_gone_or_it_changed(clock: Clock) -> None:
    cache: LocalCache[str, str] = LocalCache(10, ttl_s=60, negative_ttl_s=5, timer=clock)
    await cache.get_or_load("gone", Loader({"gone": "G"}))
    clock.now = 61
    assert await cache.get_or_load("gone", Loader({})) is None
    clock.now = 70
    with pytest.raises(RuntimeError):
        await cache.get_or_load("gone", down)

    await cache.get_or_load("changed", Loader({"changed": "C"}))
    cache.evict("changed")
    with pytest.raises(RuntimeError):
        await cache.get_or_load("changed", down)
