"""Overload on a real all-in-one: excess load is answered 503 at once, and an idle server sheds
nothing. The full shape (1000 connections, 15 s) is bench/overload.py; this is its bounded
check, a burst of wrk against a process told to shed past a small lag."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import create_key, free_port, serve, surge_env
from tests.helpers import PROBLEM_JSON

WRK = shutil.which("wrk")
BURST_S = 3
CONNECTIONS = 256
WRK_TIMEOUT_S = 5
LANDING = "https://example.com/overload"
_RECORDED = re.compile(r"^surge_clicks_recorded_total (\S+)$", re.MULTILINE)


def _require_wrk() -> str:
    if WRK is not None:
        return WRK
    message = "wrk is not installed (apt-get install wrk)"
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def _new_link(url: str, key: dict[str, str], slug: str) -> None:
    created = httpx.post(f"{url}/api/v1/links", json={"url": LANDING, "slug": slug}, headers=key)
    assert created.status_code == 201, created.text


def _recorded(url: str) -> int:
    found = _RECORDED.search(httpx.get(f"{url}/metrics", timeout=10).text)
    assert found is not None
    return int(float(found.group(1)))


def _counted(url: str, slug: str, key: dict[str, str]) -> int:
    body = httpx.get(f"{url}/api/v1/links/{slug}/stats", headers=key, timeout=10).json()
    return int(body["total"]) + int(body["bot_clicks"])


def test_the_first_stats_call_after_the_first_redirect_is_answered(tmp_path: Path) -> None:
    """A fresh process's first redirect and first stats call load what they use on first use;
    that stall is one late timer, not a shortage: nothing is shed."""
    env = surge_env(tmp_path)
    port = free_port()
    key = create_key(env)
    with serve(tmp_path, "all", port, env) as server:
        _new_link(server.url, key, "first")
        assert httpx.get(f"{server.url}/first").status_code == 302
        stats = httpx.get(f"{server.url}/api/v1/links/first/stats", headers=key, timeout=10)
        assert stats.status_code == 200, stats.text


def test_excess_load_is_answered_503_at_once_and_served_clicks_are_exact(tmp_path: Path) -> None:
    wrk = _require_wrk()
    # Shed past 2 ms of sustained lag: a burst of CONNECTIONS keep-alive clients, all of them
    # run at once (no server cap to keep the loop's turns short), is far past what the process
    # serves without queueing, the shape of an overload at a small scale. (With the default cap
    # of 128 a quiet machine's turns stayed under 5 ms and nothing was shed.) On uvicorn, where
    # the event loop is the queue: granian (the default) queues in Rust, its loop's timers stay
    # on time under this burst and nothing is shed there (bench/overload.py measures granian's
    # bounded answers instead: p99 58 ms under 1000 connections, docs/performance.md).
    env = surge_env(
        tmp_path,
        SURGE_SERVER="uvicorn",
        SURGE_SHED_REDIRECT_LAG_MS="2",
        SURGE_SHED_LAG_MS="2",
        SURGE_SERVER_CONCURRENCY=str(CONNECTIONS),
    )
    port = free_port()
    key = create_key(env)
    with serve(tmp_path, "all", port, env) as server:
        _new_link(server.url, key, "hot")
        hot = f"{server.url}/hot"
        assert httpx.get(hot).status_code == 302  # cached from here

        def timed(url: str, headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
            start = time.monotonic()
            answer = httpx.get(url, headers=headers, timeout=WRK_TIMEOUT_S)
            return answer, time.monotonic() - start

        idle = [timed(hot) for _ in range(5)]
        idle_s = max(seconds for _, seconds in idle)
        # Every 302 a click: a busy machine's lag may pass the 2 ms bound already and shed one.
        assert _recorded(server.url) == 1 + sum(a.status_code == 302 for a, _ in idle)
        burst = subprocess.Popen(
            [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{BURST_S}s", f"--timeout={WRK_TIMEOUT_S}s", hot],
            stdout=subprocess.PIPE,
            text=True,
        )
        shed: list[tuple[httpx.Response, float]] = []
        deadline = time.monotonic() + BURST_S - 0.5
        while time.monotonic() < deadline and not shed:
            answer = timed(hot)
            if answer[0].status_code == 503:
                shed.append(answer)
        # While redirects are being shed, the operator still gets a stats call through.
        stats, stats_s = timed(f"{server.url}/api/v1/links/hot/stats", key)
        output, _ = burst.communicate(timeout=BURST_S + WRK_TIMEOUT_S + 10)
        served = _recorded(server.url)
        settle_deadline = time.monotonic() + 20
        while _counted(server.url, "hot", key) < served and time.monotonic() < settle_deadline:
            time.sleep(0.1)
        counted = _counted(server.url, "hot", key)
    timeouts = re.search(r"timeout (\d+)", output)
    assert timeouts is None or timeouts.group(1) == "0", output  # every request answered
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert refused is not None, output
    assert int(refused.group(1)) > 0, output  # the excess was refused...
    assert shed, "no probe was answered 503 during the burst"
    answer, took_s = shed[0]
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert int(answer.headers["retry-after"]) >= 1
    assert took_s < max(1.0, 50 * idle_s), (took_s, idle_s)  # ...at once, not after a queue
    assert stats.status_code == 200, stats.text  # the operator's share
    assert stats_s < 2.0
    assert counted == served  # every 302 counted, none of the 503s
