"""PostgreSQL + Redis, several replicas as real processes: the data plane keeps its promises."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from tests.e2e.processes import (
    click_concurrently,
    create_key,
    free_port,
    serve,
    surge_cli,
    surge_env,
    wait_for_total,
)
from tests.services import (
    REDIS_URL,
    create_database,
    drop_database,
    require_postgres,
    require_redis,
)

CLICKS = 1000


@pytest.fixture
def production_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    require_postgres()
    require_redis()
    database_url = asyncio.run(create_database())
    prefix = f"surge-e2e-{time.monotonic_ns()}:"
    try:
        yield surge_env(
            tmp_path,
            SURGE_DATABASE_URL=database_url,
            SURGE_REDIS_URL=REDIS_URL,
            SURGE_REDIS_PREFIX=prefix,
            # Long enough that the stuck consumer's entries are still its own when it is killed.
            SURGE_STREAM_CLAIM_IDLE_MS="4000",
        )
    finally:
        asyncio.run(drop_database(database_url))
        redis = Redis.from_url(REDIS_URL)
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()


def black_hole() -> tuple[socket.socket, int]:
    """A port that accepts TCP connections and never answers: a database that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock, sock.getsockname()[1]


def pending_of(env: dict[str, str], pid: int) -> int:
    redis = Redis.from_url(REDIS_URL)
    try:
        summary: Any = redis.xpending(f"{env['SURGE_REDIS_PREFIX']}clicks", "analytics")
    finally:
        redis.close()
    return sum(
        int(c["pending"]) for c in summary["consumers"] if c["name"].decode().endswith(f"-{pid}")
    )


def consumers(env: dict[str, str]) -> Any:
    redis = Redis.from_url(REDIS_URL)
    try:
        return redis.xinfo_consumers(f"{env['SURGE_REDIS_PREFIX']}clicks", "analytics")
    finally:
        redis.close()


@pytest.mark.e2e
def test_replicas_consumers_and_a_killed_consumer(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    api_port, analytics_port, stuck_port = free_port(), free_port(), free_port()
    redirect_ports = [free_port(), free_port()]
    env = {
        **production_env,
        "SURGE_API_URL": f"http://127.0.0.1:{api_port}",
        "SURGE_ANALYTICS_URL": f"http://127.0.0.1:{analytics_port}",
        "SURGE_PUBLIC_URL": f"http://127.0.0.1:{redirect_ports[0]}",
    }
    assert surge_cli(env, "migrate").returncode == 0
    key = create_key(env)
    hole, hole_port = black_hole()
    stuck_env = {
        **env,
        "SURGE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{hole_port}/x",
    }
    with ExitStack() as stack:
        stack.callback(hole.close)
        api = stack.enter_context(serve(tmp_path, "api", api_port, env))
        stack.enter_context(serve(tmp_path, "analytics", analytics_port, env))
        # A second consumer whose database hangs: it takes entries and never acknowledges them.
        stuck = stack.enter_context(
            serve(tmp_path, "analytics", stuck_port, stuck_env, ready_path="/healthz")
        )
        replicas = [
            stack.enter_context(serve(tmp_path, "redirect", p, env)) for p in redirect_ports
        ]

        created = httpx.post(
            f"{api.url}/api/v1/links", json={"url": "https://example.com/a"}, headers=key
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]

        # A change made through the api reaches both replicas within a second.
        for replica in replicas:
            assert httpx.get(f"{replica.url}/{slug}").headers["location"] == "https://example.com/a"
        changed = httpx.patch(
            f"{api.url}/api/v1/links/{slug}", json={"url": "https://example.org/b"}, headers=key
        )
        assert changed.status_code == 200
        deadline = time.monotonic() + 1.0
        while True:
            locations = {httpx.get(f"{r.url}/{slug}").headers["location"] for r in replicas}
            if locations == {"https://example.org/b"}:
                break
            assert time.monotonic() < deadline, f"replicas still serve {locations} after 1 s"
            time.sleep(0.02)

        # Clicks spread over both replicas; mid-stream, the consumer holding some of them dies.
        async def both() -> list[list[int]]:
            return await asyncio.gather(
                *(click_concurrently(f"{r.url}/{slug}", CLICKS // 2, 25) for r in replicas)
            )

        with ThreadPoolExecutor(1) as pool:
            clicking = pool.submit(lambda: asyncio.run(both()))
            deadline = time.monotonic() + 15
            stuck_pid = stuck.app_pid
            while pending_of(env, stuck_pid) == 0:
                assert time.monotonic() < deadline, f"stuck consumer took nothing: {consumers(env)}"
                time.sleep(0.01)
            stuck.crash()  # kill -9 with entries delivered to it and not acknowledged
            assert not clicking.done(), "the clicks were over before the kill: not mid-stream"
            statuses = clicking.result(timeout=60)
        assert [s for per_replica in statuses for s in per_replica] == [302] * CLICKS

        # The live consumer claims them; every click counted exactly once (+2 checks above).
        wait_for_total(api.url, slug, key, CLICKS + 2 * 2, timeout_s=30)
