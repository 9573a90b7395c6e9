"""`surge serve --workers N`: N processes share the port, /metrics sums them all, and SIGTERM
stops them together."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Server, create_key, free_port, surge_env
from tests.helpers import BROWSER_UA


def redirects_counted(url: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(f"{url}/metrics").text.splitlines()
        if line.startswith("surge_http_requests_total{")
        and 'route="/{slug}"' in line
        and 'service="redirect"' in line
    )


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


@pytest.mark.e2e
def test_two_workers_share_the_port_and_the_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}")
    key = create_key(env)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "surge.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server("all", port, process, log)
    try:
        server.wait_ready()
        # uvicorn's supervisor and its two workers (it may also run a resource tracker).
        workers = [
            c
            for c in children(process.pid)
            if "multiprocessing.resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()
        ]
        assert len(workers) == 2, workers
        made = httpx.post(
            f"{server.url}/api/v1/links", json={"url": "https://example.com/w"}, headers=key
        )
        assert made.status_code == 201, made.text
        slug = made.json()["slug"]
        for _ in range(40):  # a new connection each: the kernel spreads them over the workers
            answer = httpx.get(f"{server.url}/{slug}", headers={"user-agent": BROWSER_UA})
            assert answer.status_code == 302
        # Each worker publishes its counts when scraped and every second: the sum of both
        # reaches 40 within about a second, whichever worker answers the scrape.
        deadline = time.monotonic() + 10
        while (served := redirects_counted(server.url)) != 40:
            assert served < 40
            assert time.monotonic() < deadline, f"/metrics counts {served} redirects, not 40"
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert process.returncode in (0, -signal.SIGTERM), server.output()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
