"""`surge serve --workers N`: cached-redirect throughput with 1 and with 2 worker processes.

The all-in-one server on a throwaway SQLite database, one link (`/bench`) warmed into every
worker's cache, then `wrk -t2 -c64` (3 s discarded, 8 s measured) on 127.0.0.1, alternating
1, 2, 1, 2 workers; medians and the ratio. wrk runs on the same cores as the server, so on a
2-core machine the ratio is the gain a second core gives under that competition, not the
gain of a dedicated one. Part of `make bench`; needs wrk (`apt-get install wrk`).

    uv run python bench/workers.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROUNDS = (1, 2, 1, 2)
RESULTS = Path(__file__).with_name("results")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"no Requests/sec in wrk's output:\n{out}")
    return float(found.group(1))


def one_run(workers: int, tmp: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=f"sqlite+aiosqlite:///{folder}/surge.db",
        SURGE_SPOOL_DIR=str(folder / "spool"),
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_LOG_LEVEL="warning",
        SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
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
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit((folder / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
        made = httpx.post(
            f"{base}/api/v1/links",
            json={"url": "https://example.com/landing", "slug": "bench"},
            headers={"Authorization": f"Bearer {key}"},
        )
        made.raise_for_status()
        wrk(f"{base}/bench", 3)  # warms every worker's cache; discarded
        return wrk(f"{base}/bench", 8)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/workers.py needs wrk: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="surge-workers-"))
    measured: dict[int, list[float]] = {1: [], 2: []}
    try:
        for workers in ROUNDS:
            measured[workers].append(one_run(workers, tmp))
            print(f"{workers} worker(s): {measured[workers][-1]:,.0f} req/s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one, two = (statistics.median(measured[n]) for n in (1, 2))
    print(
        f"cached redirect, surge serve --workers 1: {one:,.0f} req/s, --workers 2: {two:,.0f} "
        f"req/s (median of {len(measured[1])}); 2 workers ÷ 1 = {two / one:.2f}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "workers.json").write_text(json.dumps({"runs": measured, "ratio": two / one}))


if __name__ == "__main__":
    main()
