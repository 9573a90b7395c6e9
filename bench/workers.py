"""`surge serve --workers N`: cached-redirect throughput with 1 and with 2 worker processes.

The all-in-one server on a throwaway SQLite database, one link (`/bench`) warmed into every
worker's cache, then `wrk -t2 -c64` (3 s discarded, 8 s measured) on 127.0.0.1, alternating
1, 2, 1, 2 workers; medians and the ratio. wrk runs on the same cores as the server, so on a
2-core machine the ratio is the gain a second core gives under that competition, not the
gain of a dedicated one. Part of `make bench`; needs wrk (`apt-get install wrk`).

    uv run python bench/workers.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from parts.budget import BenchError
from parts.load import WRK, Config, run_wrk
from parts.processes import HOST, free_ports
from parts.runner import run_bench

ROUNDS = (1, 2, 1, 2)
WARMUP_S, MEASURED_S = 3, 8


def wrk(url: str, seconds: int) -> float:
    """req/s of `wrk -t2 -c64` on `url`; any failed request is an error, not a figure."""
    load = run_wrk(url, seconds, Config(1, seconds, WARMUP_S, connections=64, threads=2))
    if load.errors:
        raise BenchError(f"wrk saw {load.errors} failed requests against {url}")
    return load.rps


def one_run(workers: int, tmp: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=f"sqlite+aiosqlite:///{folder}/surge.db",
        SURGE_SPOOL_DIR=str(folder / "spool"),
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_LOG_LEVEL="warning",
        SURGE_PUBLIC_URL=f"http://{HOST}:{port}",
    )
    surge = [sys.executable, "-m", "surge.cli"]
    key = subprocess.run(
        [*surge, "keys", "create", "--name", "bench"], env=env, capture_output=True, text=True
    ).stdout.strip()
    with open(folder / "serve.log", "w") as log:
        server = subprocess.Popen(
            [*surge, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                lines = (folder / "serve.log").read_text().strip().splitlines() or ["(no output)"]
                raise BenchError(f"surge serve --workers {workers} not ready: {lines[-1][:300]}")
            time.sleep(0.2)
        made = httpx.post(
            f"{base}/api/v1/links",
            json={"url": "https://example.com/landing", "slug": "bench"},
            headers={"Authorization": f"Bearer {key}"},
        )
        made.raise_for_status()
        wrk(f"{base}/bench", WARMUP_S)  # warms every worker's cache; discarded
        return wrk(f"{base}/bench", MEASURED_S)
    finally:
        server.terminate()
        server.wait(30)


def bench(tmp: Path) -> dict[str, Any]:
    if WRK is None:
        raise BenchError("bench/workers.py needs wrk: apt-get install wrk")
    measured: dict[int, list[float]] = {1: [], 2: []}
    for workers in ROUNDS:
        measured[workers].append(one_run(workers, tmp))
        print(f"{workers} worker(s): {measured[workers][-1]:,.0f} req/s", file=sys.stderr)
    one, two = (statistics.median(measured[n]) for n in (1, 2))
    print(
        f"cached redirect, surge serve --workers 1: {one:,.0f} req/s, --workers 2: {two:,.0f} "
        f"req/s (median of {len(measured[1])}); 2 workers ÷ 1 = {two / one:.2f}"
    )
    return {"runs": measured, "ratio": two / one}


def main() -> int:
    return run_bench("workers", bench)


if __name__ == "__main__":
    sys.exit(main())
