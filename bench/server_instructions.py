"""Instructions per request of a server process under callgrind: what a change costs, free of
a shared machine's noise.

The server runs under `valgrind --tool=callgrind --trace-children=yes` (its worker processes
counted too), twice: wrk (`-c4`, a browser's User-Agent) for 8 s, then for 20 s. Instructions
per request = (total of the long run - total of the short one) / (their request counts' difference),
so start-up and shutdown cancel out. `surge`: a redirect-only `surge serve` in production's shape
(clicks to the Redis stream, its own key prefix; api and analytics run outside valgrind) with a
warmed link; `bare-*`: bench/apps' 302 apps. Instruction counts compare changes on one server;
across servers they mislead (granian's Rust threads cost time that user-space instructions do
not show). About 3-5 minutes per target.

    uv run --frozen python bench/server_instructions.py surge [--env SURGE_GRANIAN_INTERFACE=asgi]
    uv run --frozen python bench/server_instructions.py bare-rsgi | bare-asgi | bare-uvicorn
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from parts.processes import free_ports
from parts.systems import APPS_DIR, LANDING, SLUG, surge_env

from redirect import REDIS_URL, redis_prefix

HOST = "127.0.0.1"
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
DURATIONS_S = (8, 20)
GRANIAN = [sys.executable, "-m", "granian", "--host", HOST, "--no-ws", "--http", "1"]
GRANIAN += ["--log-level", "warning", "--loop", "uvloop", "--working-dir", str(APPS_DIR)]
BARE = {
    "bare-asgi": [*GRANIAN, "--interface", "asgi", "bare_asgi:app", "--port"],
    "bare-rsgi": [*GRANIAN, "--interface", "rsgi", "bare_rsgi:app", "--port"],
    "bare-uvicorn": [
        sys.executable, "-m", "uvicorn", "bare_asgi:app", "--app-dir", str(APPS_DIR),
        "--host", HOST, "--lifespan", "on", "--log-level", "warning", "--no-access-log",
        "--no-proxy-headers", "--port",
    ],
}  # fmt: skip
CLI = [sys.executable, "-m", "surge.cli"]
PORT_SETTINGS = (
    "SURGE_API_URL",
    "SURGE_ANALYTICS_URL",
    "SURGE_PUBLIC_URL",
)  # as surge_env sets them


def wait_until_answering(url: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {limit_s:.0f} s")


def one_run(
    argv: list[str], url: str, seconds: int, out: Path, env: dict[str, str]
) -> tuple[int, int]:
    """(requests served, instructions of every process) of one server life under callgrind."""
    out.mkdir()
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes"]
    valgrind += [f"--callgrind-out-file={out}/cg.%p", f"--log-file={out}/log.%p"]
    server = subprocess.Popen([*valgrind, *argv], env=env, cwd=out, stdout=subprocess.DEVNULL)
    try:
        wait_until_answering(url, 600)
        httpx.get(url, timeout=60)  # the cache warmed, the first request's paths taken
        wrk = ["wrk", "-t1", "-c4", f"-d{seconds}s", "-H", f"User-Agent: {UA}", url]
        report = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
        served = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(300)
    total = 0
    for log in glob.glob(f"{out}/log.*"):
        total += sum(int(n) for n in re.findall(r"Collected : (\d+)", Path(log).read_text()))
    return served, total


def redirect_env(tmp: Path, ports: list[int], prefix: str, extra: dict[str, str]) -> dict[str, str]:
    """bench/redirect.py's settings: the three processes on SQLite, clicks to the Redis stream."""
    env = surge_env(tmp, *ports)
    env.update(
        SURGE_REDIS_URL=REDIS_URL,
        SURGE_REDIS_PREFIX=prefix,
        PYTHONHASHSEED="0",
        **extra,
    )
    return env


def measure_surge(tmp: Path, extra: dict[str, str]) -> list[tuple[int, int]]:
    """The three processes, the redirect under callgrind, on a Redis key prefix of the run's own
    (bench/redirect.py's, deleted afterwards)."""
    ports = free_ports(3)
    with redis_prefix() as prefix:
        return measure_surge_on(tmp, ports, redirect_env(tmp, ports, prefix, extra))


def measure_surge_on(tmp: Path, ports: list[int], env: dict[str, str]) -> list[tuple[int, int]]:
    api, analytics, redirect = ports  # surge_env's order
    subprocess.run([*CLI, "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
    helpers = [
        subprocess.Popen([*CLI, "serve", "--service", name, "--port", str(port)], env=env, cwd=tmp,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, port in (("analytics", analytics), ("api", api))
    ]  # fmt: skip
    try:
        for port in (analytics, api):
            wait_until_answering(f"http://{HOST}:{port}/healthz", 60)
        made = subprocess.run([*CLI, "keys", "create", "--name", "bench"], env=env, cwd=tmp,
                              check=True, capture_output=True, text=True)  # fmt: skip
        key = made.stdout.split()[-1]
        created = httpx.post(
            f"http://{HOST}:{api}/api/v1/links",
            json={"url": LANDING, "slug": SLUG},
            headers={"authorization": f"Bearer {key}"},
        )
        created.raise_for_status()
        argv = [*CLI, "serve", "--service", "redirect", "--port", str(redirect)]
        url = f"http://{HOST}:{redirect}/{SLUG}"
        return [one_run(argv, url, s, tmp / f"run-{s}", env) for s in DURATIONS_S]
    finally:
        for helper in helpers:
            helper.send_signal(signal.SIGINT)
        for helper in helpers:
            helper.wait(60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("surge", *BARE))
    parser.add_argument("--env", action="append", default=[], help="K=V for Surge's processes")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("wrk") is None:
        print("needs valgrind and wrk (Debian packages)", file=sys.stderr)
        return 2
    extra = dict(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory(prefix="surge-instructions-") as name:
        tmp = Path(name)
        if args.target == "surge":
            runs = measure_surge(tmp, extra)
        else:
            (port,) = free_ports(1)
            argv_ = [*BARE[args.target], str(port)]
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            runs = [
                one_run(argv_, f"http://{HOST}:{port}/x", s, tmp / f"run-{s}", env)
                for s in DURATIONS_S
            ]
    (n1, i1), (n2, i2) = runs
    for seconds, (served, total) in zip(DURATIONS_S, runs, strict=True):
        print(f"{seconds:>3} s: {served:,} requests, {total:,} instructions")
    print(
        f"{args.target} {' '.join(args.env)}: {(i2 - i1) / (n2 - n1):,.0f} instructions per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
