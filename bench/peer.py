"""Side by side with another shortener: Surge and a peer (Kutt by default), each on its embedded
default, under the same load.

Both on 127.0.0.1 on their embedded SQLite defaults, each started with core 0 as its only CPU
(its threads and any worker inherit it; the others paused while one is measured, SIGSTOP),
`wrk -t1 -c64 -d10s` with a Chrome
User-Agent pinned to core 1, against one short link on each, in alternating pairs: the peer,
then Surge as `surge serve` with its defaults, then Surge on the other server (SURGE_SERVER), and
again. Every visit must be counted by each system's own API: after each run, once its count has
settled, the count grew by at least what wrk completed with a redirect and at most what wrk sent
(requests still in flight when wrk stops are served but not completed; none is lost or counted
twice), and for Surge by exactly what its process served (`surge_clicks_recorded_total`).
Target: Surge's median req/s >= 100x the peer's. Bounded (< 6 min), always cleans up; the peer's
checkout is outside the repository (parts.peers; without it, one line says what to run).
`--data-dir /dev/shm` puts both databases on tmpfs: the code without the disk's syncs.

    uv run --frozen python bench/peer.py [--peer kutt] [--peer-dir DIR] [--pairs 3] [--data-dir D]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

# The shared parts, bench/parts/ (see bench/redirect.py); the all-in-one's start and counters.
from all_in_one import start_all_in_one
from parts.budget import BenchError, Budget
from parts.load import WRK, counted_wrk, counter_script
from parts.peers import PEERS_DIR, PRESETS, PeerPreset
from parts.processes import (
    Server,
    all_paused,
    cpu_watch,
    free_ports,
    on_core,
    own_pids,
    pinned,
    run_cli,
    split_cpus,
    wait_ready,
    with_servers,
)
from parts.report import NOISE_CORES as NOISE
from parts.rounds import clicks_recorded, fetch_counts, settled
from parts.runner import run_bench
from parts.systems import CLI, LANDING, SLUG, Surge, check_redirect, create_link

TIME_LIMIT_S = 360.0
TARGET_RATIO = 100.0
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
WRK_TIMEOUT_S = 30  # wrk's default 2 s would drop a slow peer's latencies from its p99
SETTLE_QUIET_S = 1.5  # the count unchanged this long, and at least what wrk completed: settled
SETTLE_TIMEOUT_S = 60.0


@dataclass
class Options:
    peer: str
    peer_dir: Path
    pairs: int
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    surge_servers: list[str]  # "default", "uvicorn", "granian"
    data_dir: Path | None  # the run's temp dir goes there (None: the system's temp dir)
    counter: list[str] = field(default_factory=list)  # wrk's options that count (the Lua)


@dataclass
class System:
    name: str
    label: str
    server: Server
    url: str
    visits: Callable[[], int]
    served: Callable[[], int] | None = None  # the process's own count of the 302s it served


@dataclass
class Run:
    pair: int
    system: str
    rps: float
    p99_ms: float
    completed: int  # warmup + measured, as wrk completed them
    sent: int  # warmup + measured, as wrk sent them
    errors: int  # wrk's: socket errors, timeouts, answers neither 2xx nor 3xx
    counted: int  # the system's own count, grown by
    served: int | None  # Surge: the 302s its process served
    exact: bool
    server_cores: float | None
    cpu_us_per_request: float | None
    cpu_wait: float | None  # share of the run its main thread was runnable, waiting for a CPU
    other_cores: float | None


def settle(system: System, at_least: int, budget: Budget) -> int:
    """The system's visit count once it is at least `at_least` and has stopped changing."""
    what = f"{system.name}: its visit count"
    return settled(system.visits, at_least, budget, SETTLE_QUIET_S, SETTLE_TIMEOUT_S, what)


def one_run(
    pair: int,
    system: System,
    before: int,
    others: Sequence[System],
    ours: set[int],
    options: Options,
    budget: Budget,
) -> tuple[Run, int]:
    """Warmup and measured load on one system, the others paused; then its count checked; and
    the settled count."""
    budget.require(options.warmup_s + options.duration_s + 15, f"pair {pair} {system.name}")
    wrk = [str(WRK), f"-t{options.threads}", f"-c{options.connections}"]
    wrk += [f"--timeout={WRK_TIMEOUT_S}s", "-H", f"User-Agent: {CHROME_UA}", *options.counter]
    argv = pinned(wrk, split_cpus()[1])  # the systems have core 0
    served_before = system.served() if system.served else 0
    cpu: dict[str, float | None] = {}
    with all_paused([other.server for other in others]):
        warmup = counted_wrk(argv, system.url, options.warmup_s)
        with cpu_watch(system.server, ours, cpu):
            shot = counted_wrk(argv, system.url, options.duration_s)
    completed = warmup.load.requests + shot.load.requests
    sent = warmup.sent + shot.sent
    after = settle(system, before + completed, budget)
    counted = after - before
    served = system.served() - served_before if system.served else None
    # Socket errors and timeouts are reported, not held against the count: a request that wrk
    # gave up on may still have been served, and counted, within what it sent.
    errors = warmup.load.errors + shot.load.errors
    others = warmup.others + shot.others  # answers that were not a 302: not exact
    exact = others == 0 and completed <= counted <= sent and served in (None, counted)
    cores = cpu["server_cores"]
    cpu_us = None if cores is None else round(cores / shot.load.rps * 1e6, 1)
    run = Run(pair, system.name, shot.load.rps, shot.load.p99_ms, completed, sent, errors,
              counted, served, exact, cores, cpu_us, cpu["server_cpu_wait"],
              cpu["other_cores"])  # fmt: skip
    print(
        f"  pair {pair} {system.name:<14}{run.rps:>10,.0f} req/s  p99 {run.p99_ms:8.1f} ms  "
        f"counted {counted:,} (wrk {completed:,}..{sent:,}{_served(served)}) "
        f"{'exact' if exact else 'NOT EXACT'}  cpu {cpu_us} us/req, {cores} cores, waited "
        f"{run.cpu_wait}  other {run.other_cores}",
        flush=True,
    )
    return run, after


def _served(served: int | None) -> str:
    return "" if served is None else f", served {served:,}"


def default_server() -> str:
    """The server `surge serve` runs without SURGE_SERVER, from this checkout's settings."""
    from surge.platform.config import Settings

    return str(Settings.model_fields["server"].default)


def surge_variants(chosen: Sequence[str]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, label, settings) per Surge to run; an explicit server that is the default is the
    default run itself, not a second one."""
    default = default_server()
    variants: list[tuple[str, str, dict[str, str]]] = []
    if "default" in chosen or default in chosen:
        variants.append(("surge", f"Surge, `surge serve` defaults ({default})", {}))
    for server in ("uvicorn", "granian"):
        if server in chosen and server != default:
            variants.append(
                (f"surge-{server}", f"Surge, SURGE_SERVER={server}", {"SURGE_SERVER": server})
            )
    if "granian-asgi" in chosen:  # granian on its ASGI interface, not its native one
        asgi = {"SURGE_SERVER": "granian", "SURGE_GRANIAN_INTERFACE": "asgi"}
        variants.append(("surge-granian-asgi", "Surge, SURGE_GRANIAN_INTERFACE=asgi", asgi))
    if "analytics-thread" in chosen:  # analytics on a thread of the server's process
        thread = {"SURGE_ALL_IN_ONE_ANALYTICS": "thread"}
        label = "Surge, SURGE_ALL_IN_ONE_ANALYTICS=thread"
        variants.append(("surge-analytics-thread", label, thread))
    return variants


def start_surge(
    name: str,
    label: str,
    settings: dict[str, str],
    tmp: Path,
    launched: list[Server],
    budget: Budget,
) -> System:
    home = tmp / name
    home.mkdir()
    with on_core(0):
        server, env = start_all_in_one(home, launched, settings)
    wait_ready([server], budget)
    cli = [*CLI, "keys", "create", "--name", "bench"]
    key = run_cli(cli, env, home / "all-in-one", budget).split()[-1]
    surge = Surge(server, server, server, key)
    create_link(surge)
    url = f"{server.url}/{SLUG}"
    check_redirect(name, url, LANDING)

    def visits() -> int:
        with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=10.0) as client:
            counts = fetch_counts(client, surge)
        if counts is None:
            raise httpx.HTTPError("no stats yet")
        return sum(counts)  # a Chrome UA is a human visit; bots would count apart

    return System(name, label, server, url, visits, lambda: clicks_recorded(server))


def start_peer(
    preset: PeerPreset, options: Options, tmp: Path, launched: list[Server], budget: Budget
) -> System:
    home = tmp / preset.name
    home.mkdir()
    (port,) = free_ports(1)
    with on_core(0):
        server = preset.start(options.peer_dir, port, home)
    launched.append(server)
    wait_ready([server], budget)
    link = preset.create_link(server, SLUG, LANDING)
    check_redirect(preset.name, link.url, link.location)
    return System(preset.name, preset.label, server, link.url, lambda: preset.visits(server, link))


def summarize(systems: Sequence[System], runs: Sequence[Run]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for system in systems:
        mine = [r for r in runs if r.system == system.name]
        cpu = [r.cpu_us_per_request for r in mine if r.cpu_us_per_request is not None]
        cores = [r.server_cores for r in mine if r.server_cores is not None]
        summary[system.name] = {
            "label": system.label,
            "median_rps": round(statistics.median(r.rps for r in mine), 1),
            "median_p99_ms": round(statistics.median(r.p99_ms for r in mine), 2),
            "median_cpu_us_per_request": round(statistics.median(cpu), 1) if cpu else None,
            # ~1.0: it was CPU-bound; well below, it waited on something else (a disk's sync)
            "median_server_cores": round(statistics.median(cores), 2) if cores else None,
            "errors": sum(r.errors for r in mine),
            "exact": all(r.exact for r in mine),
        }
    return summary


def ratios(peer: str, summary: dict[str, Any], default_server: str) -> list[dict[str, Any]]:
    """Each Surge run's median req/s over the peer's: `surge serve` as it comes, and each
    server by name (the default's row is the default run)."""
    rows = []
    for label, name in (
        (f"`surge serve` defaults: {default_server}", "surge"),
        ("SURGE_SERVER=uvicorn", "surge" if default_server == "uvicorn" else "surge-uvicorn"),
        ("SURGE_SERVER=granian", "surge" if default_server == "granian" else "surge-granian"),
        ("SURGE_GRANIAN_INTERFACE=asgi", "surge-granian-asgi"),
        ("SURGE_ALL_IN_ONE_ANALYTICS=thread", "surge-analytics-thread"),
    ):
        if name in summary:
            ratio = summary[name]["median_rps"] / max(summary[peer]["median_rps"], 1e-9)
            rows.append({"surge": label, "system": name, "ratio": round(ratio, 1),
                         "target": TARGET_RATIO, "met": ratio >= TARGET_RATIO})  # fmt: skip
    return rows


def bench(
    options: Options, preset: PeerPreset, budget: Budget, tmp: Path, launched: list[Server]
) -> dict[str, Any]:
    version = preset.check(options.peer_dir)  # first: a missing peer is one line, nothing started
    if WRK is None:
        raise BenchError("wrk is not installed; this bench needs it")
    default = default_server()
    load_before = os.getloadavg()
    options.counter = counter_script(tmp)
    systems = [start_peer(preset, options, tmp, launched, budget)]
    for name, label, settings in surge_variants(options.surge_servers):
        systems.append(start_surge(name, label, settings, tmp, launched, budget))
    # Not foreign: this process, every server (in turn idle) and granian's workers.
    ours = own_pids(launched)
    counts = {s.name: settle(s, 0, budget) for s in systems}  # the check GET: a bot to Kutt
    print(f"{preset.label} {version} against Surge; load average {load_before[0]:.2f}")
    runs: list[Run] = []
    for pair in range(1, options.pairs + 1):
        for system in systems:
            others = [other for other in systems if other is not system]
            run, counts[system.name] = one_run(
                pair, system, counts[system.name], others, ours, options, budget
            )
            runs.append(run)
    summary = summarize(systems, runs)
    found = ratios(preset.name, summary, default)
    report(runs, summary, found, preset.label)
    return {
        "peer": {"name": preset.name, "label": preset.label, "version": version,
                 "dir": str(options.peer_dir)},
        "options": asdict(options) | {"peer_dir": str(options.peer_dir),
                                      "data_dir": options.data_dir and str(options.data_dir)},
        "method": (f"each system's processes pinned to core 0, wrk -t{options.threads} "
                   f"-c{options.connections} -d{options.duration_s}s --timeout "
                   f"{WRK_TIMEOUT_S}s with a Chrome User-Agent pinned to core 1, "
                   f"{options.warmup_s}s warmup per run (its visits checked too)"),
        "environment": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                        "pinned": len(os.sched_getaffinity(0)) > 1,
                        "surge_default_server": default, "databases_in": str(tmp.parent),
                        "load_average_before": round(load_before[0], 2),
                        "load_average_after": round(os.getloadavg()[0], 2)},
        "runs": [asdict(r) for r in runs],
        "summary": summary,
        "ratios": found,
        "target_ratio": TARGET_RATIO,
    }  # fmt: skip


def report(
    runs: Sequence[Run], summary: dict[str, Any], found: Sequence[dict[str, Any]], peer: str
) -> None:
    print(f"\n{'system (medians)':<42}{'req/s':>10}{'p99 ms':>10}{'cpu us/req':>11}{'cores':>7}"
          "  counts exact")  # fmt: skip
    for s in summary.values():
        us, cores = s["median_cpu_us_per_request"], s["median_server_cores"]
        cpu, exact = "n/a" if us is None else f"{us:,.0f}", "yes" if s["exact"] else "NO"
        rps, p99, used = s["median_rps"], s["median_p99_ms"], "n/a" if cores is None else cores
        print(f"{s['label']:<42}{rps:>10,.0f}{p99:>10.1f}{cpu:>11}{used:>7}  {exact}")
    for row in found:
        print(f"Surge, {row['surge']} / {peer}: {row['ratio']:,.1f}x  (target >= "
              f"{TARGET_RATIO:.0f}x: {'met' if row['met'] else 'NOT met'})")  # fmt: skip
    noisy = [r.other_cores for r in runs if r.other_cores is not None and r.other_cores > NOISE]
    if noisy:
        print(f"warning: other processes used up to {max(noisy):.2f} cores in {len(noisy)} of "
              f"{len(runs)} runs: measured under shared load")  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=sorted(PRESETS), default="kutt")
    parser.add_argument("--peer-dir", type=Path, help="its checkout (default: ../peers/<peer>)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds per run, not measured")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--surge",
        default="default,uvicorn,granian",
        help="Surge runs: default (`surge serve` as it comes), uvicorn, granian, granian-asgi, "
        "analytics-thread; comma-separated",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the run's temp dir, so both databases, goes (e.g. /dev/shm: no disk syncs)",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.surge.split(",") if s.strip()]
    known = ("default", "uvicorn", "granian", "granian-asgi", "analytics-thread")
    if not chosen or any(s not in known for s in chosen):
        parser.error(f"--surge takes {', '.join(known)}, comma-separated")
    if not (1 <= args.pairs <= 5 and 1 <= args.duration <= 30 and 0 <= args.warmup <= 10):
        parser.error("--pairs 1 to 5, --duration 1 to 30, --warmup 0 to 10")
    if args.connections < 1 or args.threads < 1:
        parser.error("--connections and --threads must be at least 1")
    peer_dir = (args.peer_dir or PEERS_DIR / args.peer).resolve()
    return Options(args.peer, peer_dir, args.pairs, args.duration, args.warmup,
                   args.connections, args.threads, chosen, args.data_dir)  # fmt: skip


def run(options: Options, budget: Budget, tmp: Path) -> dict[str, Any]:
    return with_servers(
        lambda launched: bench(options, PRESETS[options.peer], budget, tmp, launched)
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    if options.data_dir is not None:
        tempfile.tempdir = str(options.data_dir)  # run_bench's temp dir, so both databases
    # Apart from the runs on the defaults, which the summary holds to the target.
    name = f"{'datadir-' if options.data_dir else ''}peer-{options.peer}"
    return run_bench(name, lambda tmp: run(options, budget, tmp))


if __name__ == "__main__":
    sys.exit(main())
