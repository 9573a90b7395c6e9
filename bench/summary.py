"""One table of every benchmark figure, its target and whether it was met; and summary.json.

Reads the newest results each bench left in bench/results/ (it runs nothing itself), so `make
bench` ends with it and `make bench-quick` prints the redirect ratio's row alone. A bench whose
results are missing, or older than --max-age minutes (i.e. not from this `make bench`), is
listed as such, and then the exit status is 1: the table would otherwise pass off stale figures.
Targets not met are reported, not a failure: this is a report; deploy/ci/perf_gate.py gates.

    uv run --frozen python bench/summary.py [--only redirect] [--max-age 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parts.results import RESULTS_DIR, write_json

UV = "uv run --frozen python"


@dataclass
class Row:
    figure: str
    value: str
    target: str
    met: str  # yes, NO, invalid (the run could not tell), "-" (no target), missing, stale
    command: str


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def p99_met(run: Any, target_ms: float = 5.0) -> str:
    """An open-loop run's p99 against its target. If the generator fell behind its schedule,
    its own delays are in the figure: only a miss that remains without them is conclusive."""
    if run["keeps_up"]:
        return yes(run["p99_ms"] < target_ms)
    return "NO" if run["p99_lower_ms"] >= target_ms else "invalid"


def redirect_rows(data: Any) -> list[Row]:
    s, env = data["summary"], data.get("environment", {})
    option = env.get("server_option")
    cmd = f"{UV} bench/redirect.py" + (f" --server {option}" if option else "")
    ratio = s["ratio_surge_over_bare_rps"]
    rps = f"{s['surge']['median_rps']:,.0f} / {s['bare']['median_rps']:,.0f} req/s"
    shape = "redirect-only, clicks to the Redis stream" if env.get("click_sink") else "SQLite"
    server = env.get("server", "uvicorn")
    exact = s.get("clicks_exact")
    clicks = data["clicks"]
    counted = f"{clicks['total'] + clicks['bot_clicks']:,} of {clicks['sent']:,}"
    return [
        Row(f"redirect ({shape}, {server}) / bare ASGI 302 on uvicorn, same CPU",
            f"{ratio:.2f}", ">= 1.0", yes(ratio >= 1.0), cmd),
        Row("redirect: Surge, bare (median req/s)", rps, "", "-", cmd),
        Row("redirect: clicks counted after the rounds", counted, "all",
            "-" if exact is None else yes(exact), cmd),
    ]  # fmt: skip


def servers_rows(data: Any) -> list[Row]:
    s, cmd = data["summary"], f"{UV} bench/servers.py"
    m = s["median_rps"]
    tail = s["tail"]
    bare = f"{m['bare-uvicorn']:,.0f} / {m['bare-granian']:,.0f} / {m['rsgi-granian']:,.0f}"
    surge = f"{m['surge-uvicorn']:,.0f} / {m['surge-granian']:,.0f}"
    cost = s.get("cpu_us_per_request", {})
    cpu = " / ".join(
        f"{cost[n]:.1f}" if n in cost else "n/a" for n in ("surge-uvicorn", "surge-granian")
    )
    best = s["surge_best_over_bare_uvicorn"]
    own = s["surge_granian_over_bare_granian"]  # `surge serve` runs granian
    p99, tail_met = tail["p99_ms"], p99_met(tail)
    return [
        Row("servers: bare 302 req/s, uvicorn / granian ASGI / RSGI", bare, "", "-", cmd),
        Row("servers: Surge req/s, uvicorn / granian ASGI", surge, "", "-", cmd),
        Row("servers: Surge CPU us/request, uvicorn / granian ASGI", cpu, "", "-", cmd),
        Row(f"servers: Surge on its best server ({s['best_for_surge']}) / bare on uvicorn",
            f"{best:.2f}", ">= 1.0", yes(best >= 1.0), cmd),
        Row("servers: Surge / bare on Surge's server (granian ASGI)", f"{own:.2f}", ">= 0.8",
            yes(own >= 0.8), cmd),
        Row("servers: Surge / bare, both uvicorn",
            f"{s['surge_uvicorn_over_bare_uvicorn']:.2f}", "", "-", cmd),
        Row(f"tail: cached redirect p99 on granian, open loop {tail['intended_rps']:,.0f}/s "
            "(50% sat.)",
            f"{p99:.2f} ms (p50 {tail['p50_ms']:.2f})", "< 5 ms", tail_met, cmd),
    ]  # fmt: skip


def viral_rows(data: Any) -> list[Row]:
    s, cmd = data["summary"], f"{UV} bench/viral.py"
    p1, p2 = data["phases"]["phase1"], data["phases"]["phase2"]
    redis = f"{p1['redis_calls_per_s']:,.0f} -> {p2['redis_calls_per_s']:,.0f}/s"
    return [
        Row("viral: errors", str(s["errors"]), "0", yes(s["met"]["errors"]), cmd),
        Row(f"viral: p99 phase 1 ({p1['intended_rps']:,.0f}/s, hot 10%)",
            f"{p1['p99_ms']:.2f} ms", "< 5 ms", p99_met(p1), cmd),
        Row(f"viral: p99 phase 2 ({p2['intended_rps']:,.0f}/s, hot 90%)",
            f"{p2['p99_ms']:.2f} ms", "< 5 ms", p99_met(p2), cmd),
        Row(f"viral: Redis commands/s, phase 2 / phase 1 ({redis})",
            f"{s['redis_ratio']:.2f}", "<= 1.5", yes(s["met"]["redis_flat"]), cmd),
    ]  # fmt: skip


def hot_path_rows(data: Any) -> list[Row]:
    cmd, best = f"{UV} bench/hot_path.py", data["best_us_per_request"]
    rows = [
        Row("hot path: a cached redirect in-process, clicks recorded, metrics on",
            f"{best['metrics on']:.2f} us", "", "-", cmd),
    ]  # fmt: skip
    cost = data.get("cost", {}).get("metrics")
    if cost is not None:  # timed: callgrind's count (docs/performance.md) is the steadier figure
        rows.append(Row("hot path: what the metrics cost, by the clock", f"{cost:+.1%}",
                        "<= +5%", yes(cost <= 0.05), cmd))  # fmt: skip
    return rows


def memory_rows(data: Any) -> list[Row]:
    value = f"{data['rss_peak_mb']:.0f} MB"
    target = f"< {data['target_mb']:.0f} MB"
    return [
        Row(f"memory: redirect RSS after {data['links_served']:,} links", value, target,
            yes(data["met"]), f"{UV} bench/memory.py"),
    ]  # fmt: skip


def workers_rows(data: Any) -> list[Row]:
    return [
        Row("workers: req/s with 2 workers / 1", f"{data['ratio']:.2f}", "", "-",
            f"{UV} bench/workers.py"),
    ]  # fmt: skip


def all_in_one_rows(data: Any) -> list[Row]:
    met = {"pass": "yes", "FAIL": "NO", "invalid": "invalid"}
    return [
        Row(f"all-in-one: {r['measure']}", r["value"], r["target"], met.get(r["result"], "-"),
            f"{UV} bench/all_in_one.py")
        for r in data["rows"]
        if r["target"]
    ]  # fmt: skip


def all_in_one_api_rows(data: Any) -> list[Row]:
    met = {"pass": "yes", "FAIL": "NO"}
    return [
        Row(f"all-in-one API, 20 users: {r['measure']}", r["value"], r["target"],
            met.get(r["result"], "-"), f"{UV} bench/all_in_one_api.py")
        for r in data["rows"]
    ]  # fmt: skip


def overload_rows(data: Any) -> list[Row]:
    server = data["options"]["server"]
    command = f"{UV} bench/overload.py" + (f" --server {server}" if server else "")
    label = f"overload ({server or 'default server'}, 1000 connections)"
    return [
        Row(f"{label}: {r['measure']}", r["value"], r["target"], r["met"], command)
        for r in data["rows"]
        if r["target"]
    ]


def analytics_rows(data: Any) -> list[Row]:
    found = data["rows"] if isinstance(data, dict) else data  # a list before parts.results
    heavy = isinstance(data, dict) and data.get("options", {}).get("heavy")
    command = f"{UV} bench/analytics.py" + (" --heavy" if heavy else "")
    return [
        Row(f"analytics: {r['what']} ({r['backend']})", f"{r['value']:,.1f} {r['unit']}",
            r["target"], yes(r["ok"]), command)
        for r in found
        if r["ok"] is not None
    ]  # fmt: skip


def exports_rows(data: Any) -> list[Row]:
    small, large = min(data["sizes"]), max(data["sizes"])
    return [
        Row(f"exports: server peak RSS, {large:,} visits / {small:,} ({r['backend']}, "
            f"{r['format']})",
            f"{r['ratio']:.2f} ({r['peak_small_mb']:.0f} -> {r['peak_large_mb']:.0f} MB)",
            f"<= {data['target_ratio']}", yes(r["met"]), f"{UV} bench/exports.py")
        for r in data["ratios"]
    ]  # fmt: skip


def peer_rows(data: Any) -> list[Row]:
    peer, s, cmd = data["peer"], data["summary"], f"{UV} bench/peer.py"
    name, target = f"{peer['label']} {peer['version'].split()[0]}", data["target_ratio"]
    # Elsewhere than the temp dir (tmpfs: the disk's syncs left out) the target, which is set
    # on the embedded defaults, does not apply: the figures are shown for what they tell.
    if data_dir := data["options"].get("data_dir"):
        name, cmd = f"{name}, databases in {data_dir}", f"{cmd} --data-dir {data_dir}"
    rows = []
    for r in data["ratios"]:
        rps = f"{s[r['system']]['median_rps']:,.0f} / {s[peer['name']]['median_rps']:,.0f} req/s"
        rows.append(
            Row(f"peer: Surge ({r['surge']}) / {name}", f"{r['ratio']:,.0f}x ({rps})",
                "" if data_dir else f">= {target:.0f}x", "-" if data_dir else yes(r["met"]), cmd)
        )  # fmt: skip
    inexact = [v["label"] for v in s.values() if not v["exact"]]
    rows.append(
        Row(f"peer: every visit counted, by Surge and by {name}",
            "all" if not inexact else "not: " + "; ".join(inexact), "all", yes(not inexact), cmd)
    )  # fmt: skip
    return rows


# Name, how its results file is named (newest wins), how it becomes rows; in `make bench` order.
SOURCES: tuple[tuple[str, str, Callable[[Any], list[Row]]], ...] = (
    ("redirect", "redirect-*.json", redirect_rows),
    ("servers", "servers-*.json", servers_rows),
    ("hot_path", "hot-path-*.json", hot_path_rows),
    ("memory", "memory-*.json", memory_rows),
    ("workers", "workers-*.json", workers_rows),
    ("all_in_one", "all-in-one-2*.json", all_in_one_rows),  # not all-in-one-api-*
    ("all_in_one_api", "all-in-one-api-*.json", all_in_one_api_rows),
    ("overload", "overload-*.json", overload_rows),
    ("analytics", "analytics-*.json", analytics_rows),
    ("viral", "viral-*.json", viral_rows),
    ("exports", "exports-*.json", exports_rows),
    ("peer", "peer-*.json", peer_rows),
    ("peer_data_dir", "datadir-peer-*.json", peer_rows),
)
# Not run by `make bench` (`make bench-peer`): needs another shortener's checkout, outside the
# repository. Listed when its results are fresh, else as not run, unless asked for with --only.
OPTIONAL = ("peer", "peer_data_dir")
COMMANDS = {"peer_data_dir": f"{UV} bench/peer.py --data-dir /dev/shm"}  # not bench/<name>.py


def newest(pattern: str) -> Path | None:
    found = sorted(RESULTS_DIR.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def collect(
    names: Sequence[str], max_age_min: float | None, optional: Sequence[str] = ()
) -> list[Row]:
    """Rows of the `names` benches; an `optional` one without fresh results is one "not run"
    row, which leaves the summary complete."""
    rows: list[Row] = []
    for name, pattern, to_rows in SOURCES:
        if name not in names:
            continue
        command = COMMANDS.get(name, f"{UV} bench/{name}.py")
        path = newest(pattern)
        fresh = path is not None and (
            max_age_min is None or time.time() - path.stat().st_mtime <= max_age_min * 60
        )
        if name in optional and not fresh:
            rows.append(Row(f"{name}: not run (optional)", "", "", "-", command))
            continue
        if path is None:
            rows.append(Row(f"{name}: no results in bench/results/", "", "", "missing", command))
            continue
        age_min = (time.time() - path.stat().st_mtime) / 60
        try:
            found = to_rows(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            rows.append(Row(f"{name}: unreadable {path.name}: {exc!r}", "", "", "missing", command))
            continue
        if max_age_min is not None and age_min > max_age_min:
            for row in found:
                row.met = "stale"
        rows.extend(found)
    return rows


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(r.figure) for r in rows)
    value_width = max(10, *(len(r.value) for r in rows))
    print(f"\n{'figure':<{width}}  {'value':>{value_width}}  {'target':<8}  met")
    for r in rows:
        print(f"{r.figure:<{width}}  {r.value:>{value_width}}  {r.target:<8}  {r.met}")
    targets = [r for r in rows if r.met not in ("-", "missing", "stale")]
    met = sum(r.met == "yes" for r in targets)
    print(f"\n{met} of {len(targets)} targets met; commands in bench/results/summary.json")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [name for name, _, _ in SOURCES]
    parser.add_argument("--only", action="append", choices=names, help="repeatable")
    parser.add_argument("--max-age", type=float, help="minutes; older results are stale")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "summary.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or [name for name, _, _ in SOURCES]
    rows = collect(names, args.max_age, () if args.only else OPTIONAL)
    print_table(rows)
    payload = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": [asdict(r) for r in rows],
        "not_met": [r.figure for r in rows if r.met == "NO"],
        "incomplete": [r.figure for r in rows if r.met in ("missing", "stale")],
    }
    write_json(args.output, payload)
    return 1 if payload["incomplete"] else 0


if __name__ == "__main__":
    sys.exit(main())
