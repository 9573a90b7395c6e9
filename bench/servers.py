"""Which server for Surge's redirect: uvicorn or granian, against bare 302 apps on each.

Starts on 127.0.0.1 (free ports, a temp dir): Surge as three processes (parts.systems.start_all:
api, analytics, redirect on uvicorn, as `SURGE_SERVER=uvicorn surge serve` runs them) plus a
second redirect process on granian's RSGI interface (Surge's default server and interface:
surge.platform.rsgi) on the same api and analytics; the bare ASGI 302 app
(bench/apps/bare_asgi.py) under uvicorn and under granian ASGI; and a bare RSGI 302 app
(bench/apps/bare_rsgi.py), granian's own limit. On SQLite with the clicks posted to analytics:
the production shape (Redis stream, pinned cores) is bench/redirect.py's. Then:

  1. saturation: wrk rounds alternating over the five (drift hits all alike), medians, ratios;
     the redirects record clicks, analytics is paused during measured runs (bench/redirect.py);
  2. tail: an open-loop constant rate (parts.openloop, corrects coordinated omission) at half
     of Surge-on-granian's measured saturation, against that redirect process: p50, p99;
  3. with --profile: py-spy samples the uvicorn redirect under wrk load (parts.profile).

Writes bench/results/servers-<time>.json; bounded (< 4 min), always cleans up.

    uv run --frozen python bench/servers.py [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parts.budget import Budget
from parts.load import Config, Load, generate_load
from parts.openloop import OpenLoad, open_loop
from parts.processes import (
    HOST,
    Server,
    foreign_cpu_seconds,
    free_ports,
    own_pids,
    paused,
    start_server,
    stop_servers,
    tree_cpu_seconds,
    wait_ready,
)
from parts.profile import Profile, print_profile, record
from parts.results import RESULTS_DIR
from parts.runner import run_bench
from parts.systems import (
    APPS_DIR,
    LANDING,
    SLUG,
    Surge,
    check_redirect,
    create_link,
    start_all,
    surge_env,
)

TIME_LIMIT_S = 230.0
RATIO_OVER_BARE_UVICORN = 1.0  # the issue: Surge, one process, >= a bare 302 app on uvicorn
RATIO_OVER_BARE_OWN = 0.8  # and >= 0.8x a bare app on Surge's own server
TAIL_P99_MS = 5.0
TAIL_RATE_SHARE = 0.5  # of the measured saturation
TARGETS = ("bare-uvicorn", "surge-uvicorn", "bare-granian", "surge-granian", "rsgi-granian")


@dataclass
class Round:
    round: int
    target: str
    load: Load
    server_cores: float | None  # the server's CPU (its worker processes included)
    other_cores: float | None  # processes not the bench's own: noise


def granian_argv(interface: str, app: str, port: int, workdir: Path, factory: bool) -> list[str]:
    # The counterpart of `surge serve`'s uvicorn options: one worker, uvloop, HTTP/1.1 only, no
    # websockets, no access log. granian runs its worker as a child of this process.
    argv = [sys.executable, "-m", "granian", "--interface", interface, "--host", HOST]
    argv += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "1"]
    argv += ["--no-ws", "--log-level", "warning", "--no-access-log"]
    argv += ["--working-dir", str(workdir), *(["--factory"] if factory else []), app]
    return argv


def start_granian(
    tmp: Path, servers: list[Server], surge: Surge, budget: Budget
) -> dict[str, Server]:
    bare_port, surge_port, rsgi_port = free_ports(3)
    env = surge_env(tmp, surge.api.port, surge.analytics.port, surge.redirect.port)
    # Its own spool: two redirect processes must never replay each other's batches.
    env.update(SURGE_SERVE_SERVICE="redirect", SURGE_SPOOL_DIR=str(tmp / "spool-granian"))
    started = {
        "bare-granian": ("asgi", "bare_asgi:app", bare_port, APPS_DIR, False, 302),
        "surge-granian": ("rsgi", "surge.apps:app_from_environment", surge_port, tmp, True, 200),
        "rsgi-granian": ("rsgi", "bare_rsgi:app", rsgi_port, APPS_DIR, False, 302),
    }
    for name, (interface, app, port, workdir, factory, ready) in started.items():
        argv = granian_argv(interface, app, port, workdir, factory)
        servers.append(start_server(name, port, argv, env, tmp, ready))
    wait_ready(servers[-3:], budget)
    return {s.name: s for s in servers[-3:]}


def measured(server: Server, url: str, config: Config, surge: Surge, ours: set[int]) -> Round:
    with paused(surge.analytics):
        cpu_before, foreign_before = tree_cpu_seconds(server.process.pid), foreign_cpu_seconds(ours)
        start = time.monotonic()
        load = generate_load(url, config.duration_s, config)
        seconds = time.monotonic() - start
        cpu_after, foreign_after = tree_cpu_seconds(server.process.pid), foreign_cpu_seconds(ours)
    cores = None
    if cpu_before is not None and cpu_after is not None:
        cores = round((cpu_after - cpu_before) / seconds, 2)
    other = None
    if foreign_before is not None and foreign_after is not None:
        spent = sum(t - foreign_before.get(pid, 0.0) for pid, t in foreign_after.items())
        other = round(max(0.0, spent) / seconds, 2)
    return Round(0, "", load, cores, other)


def saturate(
    targets: dict[str, Server], surge: Surge, config: Config, budget: Budget
) -> list[Round]:
    ours = own_pids(list(targets.values()))
    rounds: list[Round] = []
    for number in range(1, config.rounds + 1):
        for name, server in targets.items():
            budget.require(config.warmup_s + config.duration_s + 5, f"round {number} {name}")
            url = f"{server.url}/{SLUG}"
            generate_load(url, config.warmup_s, config)  # discarded; analytics catches up
            run = measured(server, url, config, surge, ours)
            run.round, run.target = number, name
            rounds.append(run)
            print(
                f"  round {number} {name:<14}{run.load.rps:>10,.0f} req/s  "
                f"p99 {run.load.p99_ms:6.2f} ms  server cpu {run.server_cores}",
                flush=True,
            )
    return rounds


def ratios(medians: dict[str, float]) -> dict[str, Any]:
    surge_uv, surge_gr = medians["surge-uvicorn"], medians["surge-granian"]
    return {
        "surge_uvicorn_over_bare_uvicorn": surge_uv / medians["bare-uvicorn"],
        "surge_granian_over_bare_uvicorn": surge_gr / medians["bare-uvicorn"],
        "surge_granian_over_bare_granian": surge_gr / medians["bare-granian"],
        "surge_granian_over_surge_uvicorn": surge_gr / surge_uv,
        "bare_granian_over_bare_uvicorn": medians["bare-granian"] / medians["bare-uvicorn"],
        "rsgi_granian_over_bare_uvicorn": medians["rsgi-granian"] / medians["bare-uvicorn"],
        "best_for_surge": "granian" if surge_gr >= surge_uv else "uvicorn",
        "surge_best_over_bare_uvicorn": max(surge_uv, surge_gr) / medians["bare-uvicorn"],
    }


def tail(redirect: Server, surge: Surge, rate: float, seconds: int) -> OpenLoad:
    # 32 connections: at 5-20k req/s that is room for latencies of 1.6-6 ms before a request
    # waits for a free connection (Little's law); one that waits is still timed from when it was
    # due, so the p99 stays honest, and the wait shows in `queued`.
    with paused(surge.analytics):
        return open_loop(f"{redirect.url}/{SLUG}", rate, 2.0, seconds, 32)


@dataclass
class Profiled:
    target: str
    rps: float  # under wrk while sampled (py-spy pauses the process briefly per sample)
    cpu_us_per_request: float
    profile: Profile | str  # or why py-spy could not sample
    us_per_request: dict[str, float]  # the CPU per request, split by the profile's areas


def profile(
    name: str, server: Server, config: Config, seconds: int, cpu_us: float | None
) -> Profiled:
    """py-spy on a server process while wrk loads it (analytics paused, as in the rounds).
    `cpu_us`: its CPU per request in the rounds; sampling slows a process down (py-spy stops it
    to unwind each native stack), so the split uses that figure, not the one measured here."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    loads: list[Load] = []
    url = f"{server.url}/{SLUG}"
    load = threading.Thread(
        target=lambda: loads.append(generate_load(url, seconds + 2, config)), daemon=True
    )
    load.start()
    time.sleep(1.0)  # connections open, the loop busy
    cpu_before, start = tree_cpu_seconds(server.process.pid) or 0.0, time.monotonic()
    found = record(server.process.pid, seconds, RESULTS_DIR / f"profile-{name}.txt")
    cores = ((tree_cpu_seconds(server.process.pid) or 0.0) - cpu_before) / (
        time.monotonic() - start
    )
    load.join(timeout=seconds + 20)
    rps = loads[0].rps if loads else 0.0
    per_request = cores / rps * 1e6 if rps else 0.0
    split = {}
    if isinstance(found, Profile):
        base = cpu_us or per_request
        split = {area: round(share * base, 2) for area, share in found.areas.items()}
    return Profiled(name, rps, round(per_request, 2), found, split)


def bench(args: argparse.Namespace, config: Config, budget: Budget, tmp: Path) -> dict[str, Any]:
    servers: list[Server] = []
    try:
        print(f"load generator: {config.generator} (warmup {config.warmup_s}s per run)")
        # Surge's three services on uvicorn; its redirect on granian (the default) beside them.
        bare, surge = start_all(tmp, servers, budget, extra_env={"SURGE_SERVER": "uvicorn"})
        granian = start_granian(tmp, servers, surge, budget)
        create_link(surge)
        targets = {"bare-uvicorn": bare, "surge-uvicorn": surge.redirect, **granian}
        targets = {name: targets[name] for name in TARGETS}
        for name, server in targets.items():  # a 302 from each; warms Surge's caches
            check_redirect(name, f"{server.url}/{SLUG}", LANDING if "surge" in name else None)
        print(f"servers ready after {budget.elapsed():.1f}s; {config.rounds} rounds", flush=True)
        rounds = saturate(targets, surge, config, budget)
        medians = {
            name: statistics.median(r.load.rps for r in rounds if r.target == name)
            for name in TARGETS
        }
        summary: dict[str, Any] = {"median_rps": medians, **ratios(medians)}
        summary["errors"] = sum(r.load.errors for r in rounds)
        # CPU per request: a server with more threads (granian's Rust I/O runtime next to the
        # Python one) can win req/s on a shared machine by taking more CPU, not by costing less.
        summary["cpu_us_per_request"] = {
            name: statistics.median(
                r.server_cores / r.load.rps * 1e6
                for r in rounds
                if r.target == name and r.server_cores and r.load.rps
            )
            for name in TARGETS
            if any(r.target == name and r.server_cores for r in rounds)
        }
        # The tail on Surge's default server, granian.
        rate = TAIL_RATE_SHARE * medians["surge-granian"]
        budget.require(args.tail + 10, "the open-loop run")
        print(f"open loop at {rate:,.0f} req/s ({TAIL_RATE_SHARE:.0%} of saturation)", flush=True)
        open_run = tail(targets["surge-granian"], surge, rate, args.tail)
        summary["tail"] = asdict(open_run)
        profiles: list[Profiled] = []
        if args.profile:
            with paused(surge.analytics):
                for name in ("bare-uvicorn", "surge-uvicorn"):
                    budget.require(args.profile + 25, f"the profile of {name}")
                    cpu_us = summary["cpu_us_per_request"].get(name)
                    profiles.append(profile(name, targets[name], config, args.profile, cpu_us))
    finally:
        stop_servers(servers)
    report(rounds, summary, open_run, profiles)
    return {
        "config": asdict(config),
        "environment": {"python": sys.version.split()[0], "cpus": os.cpu_count()},
        "rounds": [asdict(r) for r in rounds],
        "summary": summary,
        "profiles": [asdict(p) for p in profiles],
    }


def report(
    rounds: Sequence[Round], summary: dict[str, Any], run: OpenLoad, profiles: list[Profiled]
) -> None:
    print(
        f"\n{'server':<16}{'median req/s':>14}{'median p99 ms':>15}{'server cpu':>12}"
        f"{'cpu us/req':>12}"
    )
    for name in TARGETS:
        mine = [r for r in rounds if r.target == name]
        p99 = statistics.median(r.load.p99_ms for r in mine)
        cores = [r.server_cores for r in mine if r.server_cores is not None]
        cpu = f"{statistics.median(cores):.2f}" if cores else "n/a"
        per_request = summary["cpu_us_per_request"].get(name)
        cost = f"{per_request:.1f}" if per_request else "n/a"
        print(f"{name:<16}{summary['median_rps'][name]:>14,.0f}{p99:>15.2f}{cpu:>12}{cost:>12}")
    s = summary
    print()
    for key, label, target in (
        ("surge_uvicorn_over_bare_uvicorn", "Surge on uvicorn / bare on uvicorn", 1.0),
        ("surge_granian_over_bare_uvicorn", "Surge on granian / bare on uvicorn", 1.0),
        ("surge_granian_over_bare_granian", "Surge on granian / bare on granian", 0.8),
        ("surge_granian_over_surge_uvicorn", "Surge: granian / uvicorn", None),
        ("bare_granian_over_bare_uvicorn", "bare: granian ASGI / uvicorn", None),
        ("rsgi_granian_over_bare_uvicorn", "bare: granian RSGI / uvicorn", None),
    ):
        goal = f"target >= {target}" if target else ""
        print(f"  {label:<38}{s[key]:>6.2f}  {goal}")
    print(f"better server for Surge by this run: {s['best_for_surge']}")
    print(
        f"open loop {run.intended_rps:,.0f} req/s (achieved {run.achieved_rps:,.0f}): p50 "
        f"{run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms (target < {TAIL_P99_MS}), p99.9 "
        f"{run.p999_ms:.2f} ms, {run.errors} errors; generator kept up: {run.keeps_up}"
    )
    if s["errors"]:
        print(f"warning: {s['errors']} failed requests in the saturation rounds")
    for p in profiles:
        if isinstance(p.profile, str):
            print(f"profile of {p.target}: not taken: {p.profile}")
            continue
        print(
            f"\n{p.target}: {p.rps:,.0f} req/s while sampled, {p.cpu_us_per_request:.1f} us CPU/req"
        )
        print_profile(p.profile)
    if len(profiles) == 2 and all(p.us_per_request for p in profiles):
        bare, surge = profiles
        print("\nCPU per request in the rounds, split as the profile samples it:")
        print(f"  {'us per request':<40}{'bare':>8}{'surge':>8}")
        for area in surge.us_per_request:
            print(
                f"  {area:<40}{bare.us_per_request.get(area, 0.0):>8.1f}"
                f"{surge.us_per_request[area]:>8.1f}"
            )


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds discarded before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tail", type=int, default=10, help="open-loop seconds measured")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=8, default=0, help="py-spy seconds (default 8)"
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.warmup, args.connections, args.threads) < 1:
        parser.error("every count and duration must be at least 1")
    config = Config(args.rounds, args.duration, args.warmup, args.connections, args.threads)
    return args, config


def main(argv: Sequence[str] | None = None) -> int:
    args, config = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    return run_bench("servers", lambda tmp: bench(args, config, budget, tmp))


if __name__ == "__main__":
    sys.exit(main())
