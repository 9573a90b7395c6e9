"""A load test's figures: Locust's statistics read back, the SLO verdict, the terminal table."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REDIRECTS = "/{slug}"  # the name visitors' requests carry: the SLO is the redirect's


class LoadTestError(Exception):
    """The run could not be done; one line for the user."""


@dataclass(frozen=True)
class Slo:
    p95_ms: float | None
    p99_ms: float | None
    errors: float  # the largest share of failed requests allowed


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:  # "N/A" when nothing was measured
        return None


def read_endpoints(stats_csv: Path) -> list[Endpoint]:
    """Locust's final stats, one per request name plus "Aggregated"."""
    try:
        with open(stats_csv) as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise LoadTestError(f"Locust wrote no statistics ({exc.strerror}: {stats_csv})") from exc
    return [
        Endpoint(
            name=(f"{row['Type']} {row['Name']}".strip() if row["Name"] != "Aggregated" else "all"),
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            rps=float(row["Requests/s"]),
            p50_ms=_number(row["50%"]),
            p95_ms=_number(row["95%"]),
            p99_ms=_number(row["99%"]),
        )
        for row in rows
    ]


def judge(
    p95_ms: float | None, p99_ms: float | None, answered: int, error_ratio: float, slo: Slo
) -> list[str]:
    """What a run (or a sweep step) missed of the SLO; empty: it passed. Latency is the
    redirect's, `answered` its successful requests; errors are every request's."""
    if answered == 0:
        return ["no redirect was answered"]
    missed = []
    for name, limit, value in (("p95", slo.p95_ms, p95_ms), ("p99", slo.p99_ms, p99_ms)):
        if limit is not None and (value is None or value > limit):
            shown = "unmeasured" if value is None else f"{value:g} ms"
            missed.append(f"redirect {name} {shown} > {limit:g} ms")
    if error_ratio > slo.errors:
        missed.append(f"errors {error_ratio:.2%} > {slo.errors:.2%}")
    return missed


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary(result: dict[str, Any]) -> str:
    """The terminal table."""
    lines = [
        f"{result['scenario']} on {result['host']}: {result['users']} users, "
        f"{result['duration_s']:.0f}s, seed {result['seed']}, {result['links']} links",
        f"{'request':<36} {'count':>8} {'failed':>7} {'req/s':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7}",
    ]
    for e in result["endpoints"]:
        ratio = e["failures"] / e["requests"] if e["requests"] else 0.0
        lines.append(
            f"{e['name']:<36} {e['requests']:>8} {ratio:>7.2%} {e['rps']:>8.1f} "
            f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7}"
        )
    if result["steps"]:
        lines += [
            "",
            f"{result['sweep_variable']:>8} {'req/s':>9} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'Locust cores':>12} {'server cores':>12}  SLO",
        ]
        for s in result["steps"]:
            n = s["replicas"] if result["sweep_variable"] == "replicas" else s["users"]
            client, server = (
                "-" if s.get(name) is None else f"{s[name]:.2f}"
                for name in ("client_cores", "server_cores")
            )
            lines.append(
                f"{n:>8} {s['throughput']:>9.0f} {_ms(s['p95_ms']):>7} {_ms(s['p99_ms']):>7} "
                f"{client:>12} {server:>12}  {'met' if s['within_slo'] else 'missed'}"
            )
    if result["client_cores"] is not None:
        lines.append(
            f"load generator CPU: {result['client_cores']:.2f} cores (Locust, one process)"
        )
    slo = result["slo"]
    limits = ", ".join(
        part
        for part in (
            slo["p95_ms"] is not None and f"p95 ≤ {slo['p95_ms']:g} ms",
            slo["p99_ms"] is not None and f"p99 ≤ {slo['p99_ms']:g} ms",
            f"errors ≤ {slo['errors']:.2%}",
        )
        if part
    )
    if result["verdict"] is None:
        lines.append(f"SLO ({limits}) shown per step; a sweep has no verdict")
    elif result["verdict"] == "pass":
        lines.append(f"PASS: the redirect met the SLO ({limits})")
    else:
        lines.append(f"FAIL: {'; '.join(result['missed'])} (SLO: {limits})")
    lines.append(f"run folder: {Path(result['files']['plan.json']).parent}")
    return "\n".join(lines)
