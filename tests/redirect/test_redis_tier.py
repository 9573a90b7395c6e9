"""The Redis tier between replicas' local caches and the api, and pub/sub invalidation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from surge.data.contracts import ResolvedLink, link_key
from surge.data.link_tier import SharedLinkTier
from surge.links.analytics_client import LinkChangeNotifier
from surge.platform.redis import RedisNames
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from surge.redirect.invalidation import InvalidationListener
from tests.fakes import LINK, FakeAnalytics, FakeApi
from tests.helpers import make_settings, wait_for
from tests.services import REDIS_URL, throwaway_redis_prefix


@dataclass
class Replicas:
    api: FakeApi
    clients: list[httpx.AsyncClient]
    services: list[RedirectService]
    notifier: LinkChangeNotifier
    redis: Redis
    names: RedisNames


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    api = FakeApi({"viral": dict(LINK)})
    async with AsyncExitStack() as stack:
        prefix = await stack.enter_async_context(throwaway_redis_prefix())
        settings = make_settings(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix)
        services, clients = [], []
        for _ in range(2):
            service = RedirectService(
                settings,
                api_transport=httpx.MockTransport(api.handle),
                analytics_transport=httpx.MockTransport(FakeAnalytics().handle),
            )
            lifespan = await stack.enter_async_context(Lifespan(service.app, [service]))
            transport = httpx.ASGITransport(app=lifespan)
            client = httpx.AsyncClient(transport=transport, base_url="http://sho.rt")
            await stack.enter_async_context(client)
            services.append(service)
            clients.append(client)
        for service in services:
            assert service.invalidations is not None
            listener = service.invalidations

            async def subscribed(listener: InvalidationListener = listener) -> bool:
                return listener.subscribed.is_set()

            await wait_for(subscribed, what="the pub/sub subscription")
        redis = Redis.from_url(REDIS_URL)
        stack.push_async_callback(redis.aclose)
        names = RedisNames(prefix)
        notifier = LinkChangeNotifier([], SharedLinkTier(redis, names, ttl_s=60, negative_ttl_s=5))
        yield Replicas(api, clients, services, notifier, redis, names)


async def test_the_second_replica_is_answered_by_redis_not_the_api(replicas: Replicas) -> None:
    first, second = replicas.clients
    assert (await first.get("/viral")).status_code == 302
    assert (await second.get("/viral")).headers["location"] == "https://example.com/%C3%BC?x=1"
    assert replicas.api.calls == 1


async def test_unknown_slugs_are_shared_negatively(replicas: Replicas) -> None:
    first, second = replicas.clients
    assert (await first.get("/nope")).status_code == 404
    assert (await second.get("/nope")).status_code == 404
    assert replicas.api.calls == 1


async def test_a_changed_link_reaches_every_replica(replicas: Replicas) -> None:
    for client in replicas.clients:
        assert (await client.get("/viral")).status_code == 302
    new = ResolvedLink(link_id=7, slug="viral", url="https://example.org/v2", redirect_type=307)
    replicas.api.links["viral"] = new.model_dump(mode="json")
    await replicas.notifier.link_changed(link_key("", "viral"), new)

    async def all_moved() -> bool:
        answers = [await c.get("/viral") for c in replicas.clients]
        return all(a.headers.get("location") == "https://example.org/v2" for a in answers)

    await wait_for(all_moved, timeout_s=1.0, what="both replicas to serve the new target")
    assert {(await c.get("/viral")).status_code for c in replicas.clients} == {307}


async def test_a_deleted_link_is_404_on_every_replica(replicas: Replicas) -> None:
    for client in replicas.clients:
        assert (await client.get("/viral")).status_code == 302
    del replicas.api.links["viral"]
    await replicas.notifier.link_changed(link_key("", "viral"), None)

    async def all_gone() -> bool:
        statuses = [(await c.get("/viral")).status_code for c in replicas.clients]
        return statuses == [404, 404]

    await wait_for(all_gone, timeout_s=1.0, what="both replicas to forget the link")


async def test_click_limited_links_are_not_shared(replicas: Replicas) -> None:
    replicas.api.links["few"] = {**LINK, "slug": "few", "max_clicks": 5}
    first, second = replicas.clients
    await first.get("/few")
    await second.get("/few")
    assert replicas.api.calls == 2
    assert await replicas.redis.get(replicas.names.link("few")) is None


async def test_without_redis_the_api_still_answers(tmp_path: Path) -> None:
    api = FakeApi({"viral": dict(LINK)})
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", redis_timeout_s=0.2)
    service = RedirectService(
        settings,
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(FakeAnalytics().handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            assert (await client.get("/viral")).status_code == 302
