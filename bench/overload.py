"""Overload: is a saturated all-in-one answered in bounded time, and can an operator still see?

The issue's shape, on 127.0.0.1: the all-in-one (`surge serve`, SQLite, the embedded default)
pinned to core 0, `wrk -t2 -c1000 --timeout 10s` on a cached redirect pinned to core 1, and a
stats call every 0.8 s meanwhile, each on a new connection as an operator's would be. Targets: no
request timed out, p99 < 1 s (wrk's latency covers every answer: the 302s and any fast 503s),
every stats call answered in < 1 s, and every 302 the process served counted in the stats after
(its surge_clicks_recorded counter against the link's stats once ingest has caught up).
`--server` picks SURGE_SERVER (uvicorn or granian; default: Surge's own). Bounded (< 90 s),
always cleans up. Where there is one core, nothing is pinned (the results say so).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

# The shared parts, bench/parts/ (see bench/redirect.py), and the all-in-one's start.
from all_in_one import settle, start_all_in_one
from parts.budget import BenchError, Budget
from parts.load import WRK, parse_wrk
from parts.processes import Server, on_core, pinned, run_cli, split_cpus, wait_ready, with_servers
from parts.rounds import clicks_recorded
from parts.runner import run_bench
from parts.systems import LANDING, SLUG, Surge, check_redirect, create_link

TIME_LIMIT_S = 90.0
TIMEOUT_S = 10  # wrk's --timeout, and the stats calls'
STATS_EVERY_S = 0.8
P99_TARGET_MS = 1000.0
STATS_TARGET_MS = 1000.0
_TIMEOUTS = re.compile(r"timeout (\d+)")
_NON_3XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass
class Options:
    connections: int
    threads: int
    duration_s: int
    server: str | None
    concurrency: int | None

    def settings(self) -> dict[str, str]:
        chosen = {"SURGE_SERVER": self.server, "SURGE_SERVER_CONCURRENCY": self.concurrency}
        return {name: str(value) for name, value in chosen.items() if value is not None}


@dataclass
class StatsCalls:
    """The operator's view: a stats call every STATS_EVERY_S on a new connection."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # 0: no answer in TIMEOUT_S


def stats_call(url: str, key: str, out: StatsCalls) -> None:
    start = time.monotonic()
    try:
        with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=TIMEOUT_S) as c:
            status = c.get(url).status_code
    except httpx.HTTPError:
        status = 0
    out.latencies_ms.append(round((time.monotonic() - start) * 1000, 1))
    out.statuses.append(status)


def poll_stats(url: str, key: str, stop: threading.Event, out: StatsCalls) -> None:
    """A call every STATS_EVERY_S whether the last one was answered or not, as an operator's
    dashboard would; waits for the calls still open when stopped."""
    calls: list[threading.Thread] = []
    while not stop.wait(STATS_EVERY_S):
        calls.append(threading.Thread(target=stats_call, args=(url, key, out), daemon=True))
        calls[-1].start()
    for call in calls:
        call.join(timeout=TIMEOUT_S + 2)


def overload(url: str, options: Options) -> tuple[str, int]:
    """wrk's output, and its process's exit code."""
    wrk = [
        str(WRK),
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{options.duration_s}s",
        f"--timeout={TIMEOUT_S}s",
        "--latency",
        url,
    ]
    argv = pinned(wrk, split_cpus()[1])  # the server has core 0
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=options.duration_s + 30, check=False
    )
    return done.stdout + done.stderr, done.returncode


def bench(options: Options, budget: Budget, tmp: Path, launched: list[Server]) -> dict[str, Any]:
    if WRK is None:
        raise BenchError("wrk is not installed; this bench needs it")
    with on_core(0) as core:  # the server, its threads and any worker it starts
        server, env = start_all_in_one(tmp, launched, options.settings())
    wait_ready([server], budget)
    cli = [sys.executable, "-m", "surge.cli", "keys", "create", "--name", "bench"]
    key = run_cli(cli, env, tmp / "all-in-one", budget).split()[-1]
    surge = Surge(server, server, server, key)
    create_link(surge)
    check_redirect(server.name, f"{server.url}/{SLUG}", LANDING)  # warms it, cached from here
    budget.require(options.duration_s + 35, "the overload run")
    calls, stop = StatsCalls(), threading.Event()
    stats_url = f"{server.url}/api/v1/links/{SLUG}/stats"
    poller = threading.Thread(target=poll_stats, args=(stats_url, key, stop, calls), daemon=True)
    poller.start()
    try:
        output, code = overload(f"{server.url}/{SLUG}", options)
    finally:
        stop.set()
        poller.join(timeout=TIMEOUT_S + 2)
    if code != 0:
        raise BenchError(f"wrk failed: {output.strip()[:200]}")
    load = parse_wrk(output)
    timeouts = sum(int(n) for n in _TIMEOUTS.findall(output))
    refused = int(m.group(1)) if (m := _NON_3XX.search(output)) else 0
    served = clicks_recorded(server)
    counted = settle(surge, served, budget)
    p50_line = re.search(r"^\s*50%\s+(\S+)$", output, re.MULTILINE)
    print(output.rstrip())
    worst = max(calls.latencies_ms, default=0.0)
    answered = sum(1 for s in calls.statuses if s)
    ok_calls = sum(1 for s in calls.statuses if s == 200)
    rows = [
        ("requests answered per second", f"{load.rps:,.0f}", "", "-"),
        ("of them refused (503)", f"{refused:,}", "", "-"),
        ("p50 of every answer", p50_line.group(1) if p50_line else "?", "", "-"),
        ("p99 of every answer", f"{load.p99_ms:,.0f} ms", f"< {P99_TARGET_MS:.0f} ms",
         yes(load.p99_ms < P99_TARGET_MS)),
        (f"requests timed out at {TIMEOUT_S}s", f"{timeouts}", "0", yes(timeouts == 0)),
        ("stats calls answered / made", f"{answered} / {len(calls.statuses)}", "all",
         yes(bool(calls.statuses) and answered == len(calls.statuses))),
        ("stats calls answered 200", f"{ok_calls} / {len(calls.statuses)}", "", "-"),
        ("slowest stats call", f"{worst:,.0f} ms", f"< {STATS_TARGET_MS:.0f} ms",
         yes(bool(calls.statuses) and worst < STATS_TARGET_MS)),
        ("302s served / clicks counted", f"{served:,} / {counted:,}", "equal",
         yes(counted == served)),
    ]  # fmt: skip
    print(f"\n{'measure':<36}{'value':>18}  {'target':<10}met")
    for name, value, target, met in rows:
        print(f"{name:<36}{value:>18}  {target:<10}{met}")
    return {
        "options": asdict(options),
        "environment": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "pinned": core},
        "load": asdict(load) | {"timeouts": timeouts, "refused": refused},
        "stats_calls": asdict(calls),
        "clicks": {"served": served, "counted": counted},
        "rows": [dict(zip(("measure", "value", "target", "met"), r, strict=True)) for r in rows],
    }


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=15, help="seconds of overload")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default=None,
        help="SURGE_SERVER for the all-in-one (default: Surge's own default)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="SURGE_SERVER_CONCURRENCY for the all-in-one (default: Surge's own default)",
    )
    args = parser.parse_args(argv)
    if args.connections < 1 or args.threads < 1 or not 1 <= args.duration <= 30:
        parser.error("counts must be at least 1 and --duration 1 to 30")
    return Options(args.connections, args.threads, args.duration, args.server, args.concurrency)


def run(options: Options, budget: Budget, tmp: Path) -> dict[str, Any]:
    return with_servers(lambda launched: bench(options, budget, tmp, launched))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    return run_bench("overload", lambda tmp: run(options, budget, tmp))


if __name__ == "__main__":
    sys.exit(main())
