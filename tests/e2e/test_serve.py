"""`surge serve` as real processes: all in one, and as three services talking over REST."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import (
    alive,
    children,
    click_concurrently,
    create_key,
    free_port,
    serve,
    surge_cli,
    surge_env,
    wait_for_total,
)

CLICKS, CLIENTS = 1000, 50


def exercise(api: str, redirect: str, key: dict[str, str]) -> None:
    """The issue's flow: create, 1000 redirects from 50 clients, count, PATCH, DELETE."""
    created = httpx.post(
        f"{api}/api/v1/links", json={"url": "https://example.com/launch"}, headers=key
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    assert created.json()["short_url"] == f"{redirect}/{slug}"

    statuses = asyncio.run(click_concurrently(f"{redirect}/{slug}", CLICKS, CLIENTS))
    assert statuses == [302] * CLICKS
    wait_for_total(api, slug, key, CLICKS)

    patched = httpx.patch(
        f"{api}/api/v1/links/{slug}", json={"url": "https://example.org/v2"}, headers=key
    )
    assert patched.status_code == 200, patched.text
    assert httpx.get(f"{redirect}/{slug}").headers["location"] == "https://example.org/v2"

    assert httpx.delete(f"{api}/api/v1/links/{slug}", headers=key).status_code == 204
    assert httpx.get(f"{redirect}/{slug}").status_code == 404


# `surge serve` runs on granian (the default) or uvicorn (SURGE_SERVER): both serve the whole
# flow and flush every buffered click on SIGTERM.
SERVERS = pytest.mark.parametrize("server_name", ["uvicorn", "granian"])


@pytest.mark.e2e
@SERVERS
def test_all_in_one_process(tmp_path: Path, server_name: str) -> None:
    port = free_port()
    # The server's own TMPDIR, too long for the child's socket to be bound in it (it then goes
    # to /tmp: surge.platform.child_process.socket_directory); its metrics stay there.
    temporary = tmp_path / ("tmp-" + "x" * 80)
    temporary.mkdir()
    env = surge_env(
        tmp_path,
        SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SURGE_SERVER=server_name,
        TMPDIR=str(temporary),
    )
    key = create_key(env)
    with serve(tmp_path, "all", port, env) as server:
        exercise(server.url, server.url, key)
        assert [p.name.split("-")[1] for p in temporary.iterdir()] == ["metrics"]
        assert server.stop()
    assert list(temporary.iterdir()) == []  # nothing left in /tmp by a stopped server


@pytest.mark.e2e
def test_three_services_as_three_processes(tmp_path: Path) -> None:
    api_port, redirect_port, analytics_port = free_port(), free_port(), free_port()
    env = surge_env(
        tmp_path,
        SURGE_PUBLIC_URL=f"http://127.0.0.1:{redirect_port}",
        SURGE_API_URL=f"http://127.0.0.1:{api_port}",
        SURGE_ANALYTICS_URL=f"http://127.0.0.1:{analytics_port}",
        SURGE_REDIRECT_URLS=f"http://127.0.0.1:{redirect_port}",
    )
    assert surge_cli(env, "migrate").returncode == 0
    key = create_key(env)
    with (
        serve(tmp_path, "analytics", analytics_port, env),
        serve(tmp_path, "api", api_port, env) as api,
        serve(tmp_path, "redirect", redirect_port, env) as redirect,
    ):
        exercise(api.url, redirect.url, key)


def buffering_server(
    tmp_path: Path, server_name: str
) -> tuple[int, dict[str, str], dict[str, str]]:
    """(port, env, key) of an all-in-one on `server_name` whose clicks wait for its shutdown:
    the flush interval and the batch far away."""
    port = free_port()
    env = surge_env(
        tmp_path,
        SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SURGE_SERVER=server_name,
        SURGE_CLICK_FLUSH_INTERVAL_MS="60000",
        SURGE_CLICK_BATCH_SIZE="100000",
    )
    return port, env, create_key(env)


def link_with_buffered_clicks(url: str, key: dict[str, str], clicks: int) -> str:
    """A new link's slug, after `clicks` redirects from 10 clients at once, all 302."""
    created = httpx.post(f"{url}/api/v1/links", json={"url": "https://example.com/"}, headers=key)
    slug: str = created.json()["slug"]
    assert asyncio.run(click_concurrently(f"{url}/{slug}", clicks, 10)) == [302] * clicks
    return slug


@pytest.mark.e2e
@SERVERS
def test_sigterm_flushes_buffered_clicks(tmp_path: Path, server_name: str) -> None:
    """A graceful shutdown loses no click, even with the flush interval far away."""
    port, env, key = buffering_server(tmp_path, server_name)
    with serve(tmp_path, "all", port, env) as server:
        slug = link_with_buffered_clicks(server.url, key, 200)
        stats = httpx.get(f"{server.url}/api/v1/links/{slug}/stats", headers=key).json()
        assert stats["total"] == 0  # all 200 still buffered: only the shutdown can send them
        workers = children(server.process.pid)
        assert server.stop()
        assert not [pid for pid in workers if alive(pid)]  # no worker outlives the server
    with serve(tmp_path, "all", port, env) as server:
        wait_for_total(server.url, slug, key, 200, timeout_s=5)


@pytest.mark.e2e
def test_a_killed_granian_leaves_no_worker_behind(tmp_path: Path) -> None:
    """granian's parent killed outright (SIGKILL, the OOM killer): its worker is told, stops
    gracefully instead of serving on orphaned, and flushes the clicks it held."""
    port, env, key = buffering_server(tmp_path, "granian")
    with serve(tmp_path, "all", port, env) as server:
        slug = link_with_buffered_clicks(server.url, key, 50)
        workers = children(server.process.pid)
        assert workers, "granian started no worker process"
        os.kill(server.process.pid, signal.SIGKILL)  # not the group: the workers are on their own
        server.process.wait(10)
        deadline = time.monotonic() + 20
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(map(alive, workers)), server.output()
    with serve(tmp_path, "all", port, env) as server:
        wait_for_total(server.url, slug, key, 50, timeout_s=5)


@pytest.mark.e2e
def test_a_dead_worker_takes_its_server_down(tmp_path: Path) -> None:
    """One of granian's workers killed: not half a server serving on, but the whole one
    stopping with a failure status, its other worker too, for the supervisor to restart."""
    port, env, _ = buffering_server(tmp_path, "granian")
    with serve(tmp_path, "all", port, env, workers=2) as server:
        workers = children(server.process.pid)
        assert len(workers) == 2, server.output()
        os.kill(workers[0], signal.SIGKILL)
        assert server.process.wait(30) == 1, server.output()
        deadline = time.monotonic() + 20
        while alive(workers[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(workers[1]), server.output()
