"""The all-in-one with analytics in a child process (SURGE_ALL_IN_ONE_ANALYTICS=process, the
default): the
flow through it, the child killed and brought back with no click lost, nothing left running
after a SIGTERM, and none left by an app built but never served."""

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
    run_python,
    serve,
    surge_env,
    wait_for_total,
)


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


@pytest.mark.e2e
def test_analytics_in_a_child_process(tmp_path: Path) -> None:
    port = free_port()
    env = surge_env(
        tmp_path, SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}", SURGE_ALL_IN_ONE_ANALYTICS="process"
    )  # the default, said: this test is about it
    key = create_key(env)
    with serve(tmp_path, "all", port, env) as server:
        (worker,) = children(server.process.pid)
        (analytics,) = children(worker)
        created = httpx.post(
            f"{server.url}/api/v1/links", json={"url": "https://example.com/"}, headers=key
        )
        slug = created.json()["slug"]
        url = f"{server.url}/{slug}"
        assert asyncio.run(click_concurrently(url, 300, 20)) == [302] * 300
        wait_for_total(server.url, slug, key, 300)
        metrics = httpx.get(f"{server.url}/metrics").text  # the child's, summed in
        assert "surge_clicks_ingested_total 300.0" in metrics, metrics

        os.kill(analytics, signal.SIGKILL)  # the redirects go on; their clicks wait
        assert asyncio.run(click_concurrently(url, 300, 20)) == [302] * 300
        stats = f"{server.url}/api/v1/links/{slug}/stats"
        deadline = time.monotonic() + 30
        while (answer := httpx.get(stats, headers=key)).status_code == 503:  # restarting
            assert answer.headers["retry-after"]
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        wait_for_total(server.url, slug, key, 600)
        (restarted,) = children(worker)
        assert restarted != analytics

        everyone = descendants(server.process.pid)
        assert server.stop(), server.output()
        assert not [pid for pid in everyone if alive(pid)], server.output()


@pytest.mark.e2e
def test_a_child_spawned_for_an_app_never_served_ends_with_its_parent(tmp_path: Path) -> None:
    """The child is spawned as the app is built (surge.apps.build_services), to import
    meanwhile, and waits for its settings from the server's start: a process that exits without
    serving leaves no child behind, no traceback, and no socket directory."""
    script = (
        "from surge.analytics.process import AnalyticsProcess\n"
        "from surge.data.live import new_live_hub\n"
        "from surge.platform.config import Settings\n"
        "analytics = AnalyticsProcess(Settings(), new_live_hub())\n"
        "analytics.spawn()\n"
        "print(analytics.child.process.pid, analytics.child.directory)\n"
    )
    built = run_python(surge_env(tmp_path), "-c", script)  # until the child closed its output
    assert built.returncode == 0, built.stderr
    pid, directory = built.stdout.split()
    deadline = time.monotonic() + 10
    while alive(int(pid)):
        assert time.monotonic() < deadline, f"the child {pid} outlived its parent"
        time.sleep(0.02)
    assert "Traceback" not in built.stderr, built.stderr
    assert not Path(directory).exists()
    assert not (tmp_path / "surge.db").exists()  # it read no settings: it migrated nothing
