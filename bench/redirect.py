"""Surge's cached redirect in production's shape against a bare ASGI 302 on uvicorn.

`make bench` runs this. It starts, all on 127.0.0.1 and on free ports:
  - Surge as three real processes (`surge serve --service api|analytics|redirect`, each on
    Surge's default server) on a throwaway SQLite database and the Redis at
    SURGE_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0) under a key prefix of its own,
    deleted afterwards: the redirect-only process sends every click to the Redis stream, as in
    production, and that work is in its figure;
  - the bare app (bench/apps/bare_asgi.py) under uvicorn with the options `surge serve` gives
    uvicorn;
then alternates bare, surge, bare, surge... so drift (thermal, noisy neighbours) hits both
equally. With two CPUs or more, the redirect and the bare app run on one CPU and wrk (with a
browser's User-Agent) on another, so neither measures the load generator. Analytics is paused
during measured runs and consumes the stream afterwards: every click the redirect served must be
counted. Prints req/s and p99 per round, the medians and the ratio Surge/bare. Bounded (< 180 s),
always cleans up its processes, its temp dir and its Redis keys. bench/README.md has the method.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# The shared parts, bench/parts/: run as `python bench/redirect.py`, this script's directory is
# first on sys.path, so the package imports as `parts`.
from parts.budget import BenchError, Budget
from parts.load import Config
from parts.processes import Server, split_cpus, stop_servers
from parts.report import print_report, summarize
from parts.rounds import clicks_recorded, measure, wait_for_clicks
from parts.runner import run_bench
from parts.systems import LANDING, SLUG, check_redirect, create_link, start_all
from redis import Redis
from redis.exceptions import RedisError

TIME_LIMIT_S = 180.0  # servers start, 3 pairs of runs, the stream ingested after; cleanup
REDIS_URL = os.environ.get("SURGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@contextlib.contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of this run's own on the bench's Redis; its keys deleted afterwards."""
    prefix = f"surge-bench-{uuid.uuid4().hex[:8]}:"
    client = Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except RedisError as exc:
        raise BenchError(f"needs Redis at {REDIS_URL} (SURGE_BENCH_REDIS_URL): {exc}") from exc
    try:
        yield prefix
    finally:
        with contextlib.suppress(RedisError):
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()


def bench(
    config: Config, budget: Budget, tmp: Path, server_cpu: str | None, server: str | None
) -> dict[str, Any]:
    servers: list[Server] = []
    with redis_prefix() as prefix:
        try:
            return measured(config, budget, tmp, servers, prefix, server_cpu, server)
        finally:
            stop_servers(servers)


def measured(
    config: Config,
    budget: Budget,
    tmp: Path,
    servers: list[Server],
    prefix: str,
    server_cpu: str | None,
    server: str | None,
) -> dict[str, Any]:
    print(f"load generator: {config.generator} (warmup {config.warmup_s}s per run)", flush=True)
    print(f"redirect and bare app on CPU {server_cpu or 'any'}; clicks to {REDIS_URL}", flush=True)
    print("analytics is paused during measured runs and catches up during warmups", flush=True)
    settings = {"SURGE_REDIS_URL": REDIS_URL, "SURGE_REDIS_PREFIX": prefix}
    if server is not None:  # "granian-asgi": granian on its ASGI interface, not RSGI
        name, _, interface = server.partition("-")
        settings["SURGE_SERVER"] = name
        if interface:
            settings["SURGE_GRANIAN_INTERFACE"] = interface
    bare, surge = start_all(tmp, servers, budget, extra_env=settings, pin=server_cpu)
    create_link(surge)
    targets = {
        "bare": (bare, f"{bare.url}/{SLUG}"),
        "surge": (surge.redirect, f"{surge.redirect.url}/{SLUG}"),
    }
    check_redirect("bare", targets["bare"][1], None)
    check_redirect("surge", targets["surge"][1], LANDING)  # also warms the redirect cache
    print(
        f"servers ready after {budget.elapsed():.1f}s; running {config.rounds} rounds", flush=True
    )
    runs = measure(targets, surge, servers, config, budget)
    # Every 302 the redirect sent, wrk's abandoned last answers of each run included.
    recorded = clicks_recorded(surge.redirect)
    # Analytics reads up to 100 stream entries of up to 5,000 clicks at once: one ingest of
    # ~500,000 clicks leaves the count still for longer than the usual 5 s.
    clicks = wait_for_clicks(surge, recorded, budget, timeout_s=90, stable_s=45)
    summary = summarize(runs)
    summary["clicks_exact"] = clicks.total + clicks.bot_clicks == recorded
    print_report(runs, summary, clicks)
    return {
        "config": asdict(config),
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "server_cpu": server_cpu,
            "server": server or "granian",
            "server_option": server,  # None: Surge's default
            "click_sink": "redis stream",
        },
        "runs": [asdict(run) for run in runs],
        "summary": summary,
        "clicks": asdict(clicks),
    }


def parse_args(argv: Sequence[str] | None) -> tuple[Config, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds discarded before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian", "granian-asgi"),
        help="SURGE_SERVER (default: Surge's own); granian-asgi: SURGE_GRANIAN_INTERFACE=asgi",
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.warmup, args.connections, args.threads) < 1:
        parser.error("every option must be at least 1")
    _, load_cpus = split_cpus()
    return Config(
        args.rounds, args.duration, args.warmup, args.connections, args.threads,
        user_agent=BROWSER_UA, load_cpus=load_cpus,
    ), args.server  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    config, server = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    server_cpu, _ = split_cpus()
    return run_bench("redirect", lambda tmp: bench(config, budget, tmp, server_cpu, server))


if __name__ == "__main__":
    sys.exit(main())
