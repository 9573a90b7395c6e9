"""Redis goes away: clicks wait in the spool, survive a restart, and are counted exactly once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import (
    click_concurrently,
    create_key,
    free_port,
    serve,
    surge_cli,
    surge_env,
    wait_for_total,
)
from tests.services import database_for_processes

CLICKS = 300


class RedisServer:
    """A Redis of this test's own, so stopping it disturbs nobody else."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url() -> Iterator[str]:
    with database_for_processes() as url:
        yield url


def spooled_bytes(spool_dir: Path) -> int:
    return sum(p.stat().st_size for p in spool_dir.glob("clicks-*.spool"))


@pytest.mark.e2e
def test_clicks_spooled_through_a_redis_outage_and_a_restart(
    tmp_path: Path, redis_server: RedisServer, database_url: str
) -> None:
    port = free_port()
    env = surge_env(
        tmp_path,
        SURGE_DATABASE_URL=database_url,
        SURGE_REDIS_URL=redis_server.url,
        SURGE_REDIS_TIMEOUT_S="0.5",
        SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    spool_dir = Path(env["SURGE_SPOOL_DIR"])
    assert surge_cli(env, "migrate").returncode == 0
    key = create_key(env)
    with serve(tmp_path, "all", port, env) as server:
        created = httpx.post(
            f"{server.url}/api/v1/links", json={"url": "https://e.com/"}, headers=key
        )
        slug = created.json()["slug"]
        assert httpx.get(f"{server.url}/{slug}").status_code == 302  # cached locally now
        wait_for_total(server.url, slug, key, 1)

        redis_server.stop()
        statuses = asyncio.run(click_concurrently(f"{server.url}/{slug}", CLICKS, 10))
        assert statuses == [302] * CLICKS  # redirects go on from the local tier
        deadline = time.monotonic() + 10
        while spooled_bytes(spool_dir) == 0:
            assert time.monotonic() < deadline, "no click reached the spool"
            time.sleep(0.05)
        assert server.stop()  # graceful: what is still buffered goes to the spool too
    assert spooled_bytes(spool_dir) > 0

    redis_server.start()  # back, and empty: no stream, no consumer group
    with serve(tmp_path, "all", port, env) as server:
        wait_for_total(server.url, slug, key, 1 + CLICKS, timeout_s=30)
    assert spooled_bytes(spool_dir) == 0
