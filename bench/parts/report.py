"""bench/redirect.py's report: medians and ratio, and the table printed at the end."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from .rounds import Clicks, Run

NOISE_CORES = 0.25  # CPU used by foreign processes during a run above which we warn


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for target in ("bare", "surge"):
        mine = [r.load for r in runs if r.target == target]
        summary[target] = {
            "median_rps": statistics.median(load.rps for load in mine),
            "median_p99_ms": statistics.median(load.p99_ms for load in mine),
            "errors": sum(load.errors for load in mine),
        }
    summary["ratio_surge_over_bare_rps"] = (
        summary["surge"]["median_rps"] / summary["bare"]["median_rps"]
    )
    return summary


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def print_report(runs: Sequence[Run], summary: dict[str, Any], clicks: Clicks) -> None:
    print()
    print(
        f"{'round':<7}{'target':<8}{'req/s':>12}{'p99 ms':>10}{'requests':>11}{'errors':>8}"
        f"{'server cpu':>12}{'other cpu':>11}"
    )
    for run in runs:
        load = run.load
        print(
            f"{run.round:<7}{run.target:<8}{load.rps:>12,.0f}{load.p99_ms:>10.2f}"
            f"{load.requests:>11,}{load.errors:>8}"
            f"{_cores(run.server_cores):>12}{_cores(run.other_cores):>11}"
        )
    for target in ("bare", "surge"):
        s = summary[target]
        print(f"{'median':<7}{target:<8}{s['median_rps']:>12,.0f}{s['median_p99_ms']:>10.2f}")
    print(f"\nratio surge/bare (median req/s): {summary['ratio_surge_over_bare_rps']:.2f}")
    for target in ("bare", "surge"):
        if summary[target]["errors"]:
            print(f"warning: {summary[target]['errors']} failed requests against {target}")
    noisy = [r for r in runs if r.other_cores is not None and r.other_cores > NOISE_CORES]
    if noisy:
        worst = max(r.other_cores or 0.0 for r in noisy)
        print(
            f"warning: other processes used up to {worst:.2f} cores in {len(noisy)} of "
            f"{len(runs)} runs; the numbers are noisy, run again on a quiet machine"
        )
    counted = clicks.total + clicks.bot_clicks
    print(
        f"clicks counted: {counted:,} of {clicks.sent:,} sent "
        f"(total {clicks.total:,}, bots {clicks.bot_clicks:,}; waited {clicks.waited_s:.1f}s, "
        f"ingesting {clicks.ingest_per_s:,.0f}/s)"
    )
    if counted < clicks.sent:
        # Not a failure: the redirect holds the rest and analytics is still catching up.
        print(f"  {clicks.sent - counted:,} not counted yet when the wait ended")
