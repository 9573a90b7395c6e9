"""Bare ASGI 302 vs Surge's cached redirect: same server, same settings, same load generator.

`make bench` runs this. It starts, all on 127.0.0.1 and on free ports:
  - the bare app (bench/apps/bare_asgi.py) under uvicorn with the options `surge serve` uses;
  - Surge as three real processes (`surge serve --service api|analytics|redirect`) on a
    throwaway SQLite database, with one API key and one link, `/bench`;
then alternates bare, surge, bare, surge... so drift (thermal, noisy neighbours) hits both
equally, and prints req/s and p99 per round, the medians, and the ratio Surge/bare. Finally it
checks that the clicks the redirect served were counted by analytics. The whole run is bounded
(< 120 s) and always cleans up its processes and temp dir. See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# The shared parts, bench/parts/: run as `python bench/redirect.py`, this script's directory is
# first on sys.path, so the package imports as `parts`.
from parts.budget import Budget
from parts.load import Config
from parts.processes import Server, stop_servers
from parts.report import print_report, summarize
from parts.rounds import measure, wait_for_clicks
from parts.runner import run_bench
from parts.systems import LANDING, SLUG, check_redirect, create_link, start_all

TIME_LIMIT_S = 115.0  # the brief: under two minutes, cleanup included


def bench(config: Config, budget: Budget, tmp: Path) -> dict[str, Any]:
    servers: list[Server] = []
    try:
        return measured(config, budget, tmp, servers)
    finally:
        stop_servers(servers)


def measured(config: Config, budget: Budget, tmp: Path, servers: list[Server]) -> dict[str, Any]:
    print(f"load generator: {config.generator} (warmup {config.warmup_s}s per run)", flush=True)
    print("analytics is paused during measured runs and catches up during warmups", flush=True)
    bare, surge = start_all(tmp, servers, budget)
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
    surge_runs = [r for r in runs if r.target == "surge"]
    sent = 1 + sum(r.warmup_requests + r.load.requests for r in surge_runs)
    clicks = wait_for_clicks(surge, sent, budget)
    summary = summarize(runs)
    print_report(runs, summary, clicks)
    return {
        "config": asdict(config),
        "environment": {"python": sys.version.split()[0], "cpus": os.cpu_count()},
        "runs": [asdict(run) for run in runs],
        "summary": summary,
        "clicks": asdict(clicks),
    }


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds discarded before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.warmup, args.connections, args.threads) < 1:
        parser.error("every option must be at least 1")
    return Config(args.rounds, args.duration, args.warmup, args.connections, args.threads)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    return run_bench("redirect", lambda tmp: bench(config, budget, tmp))


if __name__ == "__main__":
    sys.exit(main())
