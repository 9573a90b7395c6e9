"""`surge loadtest` and `surge capacity`, registered on the `surge` command by `add_commands`.

Only the standard library at import: cli.py imports this module for every command, and the
heavy libraries (Locust, scipy, statsmodels, matplotlib) must load only when one of these two
runs, never in `surge serve`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from surge.capacity.traffic import SCENARIOS, sweep_levels
from surge.platform.clock import utc_now

if TYPE_CHECKING:
    from surge.capacity.loadtest import LoadTestArgs
    from surge.platform.config import Settings

NAMES = frozenset({"loadtest", "capacity"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_STEP_S = 3


class UsageError(Exception):
    """Bad input: one line on stderr, exit code 2."""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = commands.add_parser(
        "loadtest",
        help="run a bounded Locust load test against a Surge and judge it against the SLO",
    )
    load.add_argument("--scenario", choices=SCENARIOS, required=True)
    load.add_argument("--host", required=True, help="where visitors go, e.g. http://127.0.0.1:8000")
    load.add_argument("--users", type=int, default=20, help="concurrent users (sweep: the top)")
    load.add_argument("--duration", default="60s", help="e.g. 30s, 5m (default 60s)")
    load.add_argument("--seed", type=int, default=1, help="the traffic's random seed (default 1)")
    load.add_argument("--slo-p95-ms", type=float, help="redirect p95 at most this (default: off)")
    load.add_argument(
        "--slo-p99-ms", type=float, default=50.0, help="redirect p99 at most this (default 50)"
    )
    load.add_argument(
        "--slo-errors", default="0.1%", help="failed requests at most this share (default 0.1%%)"
    )
    load.add_argument("--key", help="API key for seeding links (default: $SURGE_KEY)")
    load.add_argument("--api-url", help="where the API answers (default: --host)")
    load.add_argument("--links", type=int, default=100, help="links to seed (default 100)")
    load.add_argument(
        "--replicas-urls",
        help="sweep: comma-separated redirect replicas; steps 1..all of them, --users each",
    )
    load.add_argument("--steps", type=int, default=8, help="sweep: concurrency levels (default 8)")
    load.add_argument(
        "--server-pid", type=int, help="sweep: a local server process whose CPU to record"
    )
    load.add_argument("--out", type=Path, help="run folder (default data/loadtests/<run>)")
    load.add_argument("--locustfile", type=Path, help="default: loadtests/locustfile.py")

    plan = commands.add_parser(
        "capacity",
        help="fit the USL to a sweep, forecast traffic, and plan replicas",
    )
    plan.add_argument("--sweep", type=Path, help="result.json of `surge loadtest --scenario sweep`")
    source = plan.add_mutually_exclusive_group()
    source.add_argument("--traffic", type=Path, help="CSV: timestamp, and rps or requests")
    source.add_argument(
        "--from-db", action="store_true", help="clicks per hour from this database's rollups"
    )
    source.add_argument("--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    plan.add_argument("--prometheus-query", help="PromQL for redirects/s (default: surge's)")
    plan.add_argument(
        "--history", default="28d", help="history to read from the database or Prometheus"
    )
    plan.add_argument("--horizon", default="90d", help="how far to forecast (default 90d)")
    plan.add_argument(
        "--headroom", type=float, default=0.3, help="share of capacity kept spare (default 0.3)"
    )
    plan.add_argument("--replicas", type=int, default=1, help="replicas running now (default 1)")
    plan.add_argument("--viral", type=float, help="a burst of this many times the forecast peak")
    plan.add_argument("--out", type=Path, help="report folder (default data/capacity/<time>)")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run `surge loadtest` or `surge capacity`; the exit code (1: the SLO was missed, 2: bad
    input, said in one line as cli.main says its own)."""
    # Not surge.cli.CliError: under `python -m surge.cli` that module is __main__, and importing
    # surge.cli from here would make a second CliError that main() does not catch.
    try:
        if args.command == "loadtest":
            return _loadtest(args)
        return _capacity(args, settings)
    except UsageError as exc:
        print(f"surge: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2


# --- parsing -----------------------------------------------------------------------------------


def parse_duration(text: str, option: str) -> float:
    """Seconds in "90", "30s", "5m", "1h30m", "90d", "2w"."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if not value or _DURATION.sub("", value):
        raise UsageError(f"{option} must be a duration like 30s, 5m, 1h30m or 90d, not {text!r}")
    return float(sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(value)))


def parse_share(text: str, option: str) -> float:
    """A share in [0, 1] from "0.001" or "0.1%"."""
    value = text.strip()
    try:
        share = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise UsageError(f"{option} must be a share like 0.001 or 0.1%, not {text!r}") from None
    if not 0 <= share <= 1 or math.isnan(share):
        raise UsageError(f"{option} must be between 0 and 100%")
    return share


def parse_base_url(text: str, option: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise UsageError(f"{option} must be a base URL like http://127.0.0.1:8000, not {text!r}")
    return text.strip().rstrip("/")


def _bounded(value: float, low: float, high: float, option: str) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} must be {low:g} to {high:g}")


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} not installed: install surge[capacity] "
            "(in the source tree, `uv sync` installs it)"
        )


def _stamp() -> str:
    return utc_now().strftime("%Y%m%dT%H%M%SZ")


# --- surge loadtest ----------------------------------------------------------------------------


def _locustfile(given: Path | None) -> Path:
    if given is not None:
        if not given.is_file():
            raise UsageError(f"--locustfile: no such file: {given}")
        return given
    source_tree = Path(__file__).resolve().parents[3]  # src/surge/capacity/ -> the checkout
    for candidate in (Path.cwd(), source_tree):
        path = candidate / "loadtests" / "locustfile.py"
        if path.is_file():
            return path
    raise UsageError("no loadtests/locustfile.py here: run in Surge's source tree or pass one")


def loadtest_args(args: argparse.Namespace) -> LoadTestArgs:
    """The command line, checked; every mistake is a UsageError naming its option."""
    from surge.capacity.loadtest import LoadTestArgs
    from surge.capacity.results import Slo

    host = parse_base_url(args.host, "--host")
    duration = parse_duration(args.duration, "--duration")
    _bounded(duration, 1, 86400, "--duration (seconds)")
    _bounded(args.users, 1, 10_000, "--users")
    _bounded(args.links, 1, 10_000, "--links")
    for name in ("slo_p95_ms", "slo_p99_ms"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be more than 0")
    key = args.key or os.environ.get("SURGE_KEY", "")
    if not key.strip():
        raise UsageError("no API key: set SURGE_KEY or pass --key (see `surge keys create`)")
    replicas = tuple(
        parse_base_url(url, "--replicas-urls")
        for url in (args.replicas_urls or "").split(",")
        if url.strip()
    )
    if replicas and args.scenario != "sweep":
        raise UsageError("--replicas-urls goes with --scenario sweep")
    if args.scenario == "sweep":
        _bounded(args.steps, 3, 30, "--steps")
        if len(replicas) == 1:
            raise UsageError("--replicas-urls needs at least two replicas to step over")
        if not replicas and args.users < 3:
            raise UsageError("a sweep needs --users of at least 3 (three levels to fit)")
        count = len(replicas) or len(sweep_levels(args.users, args.steps))
        if duration < count * MIN_STEP_S:
            raise UsageError(
                f"--duration of {duration:g}s is too short for {count} sweep steps of at least "
                f"{MIN_STEP_S}s"
            )
    out = args.out or Path("data") / "loadtests" / f"{args.scenario}-{_stamp()}"
    return LoadTestArgs(
        scenario=args.scenario,
        host=host,
        api_url=parse_base_url(args.api_url, "--api-url") if args.api_url else host,
        key=key.strip(),
        users=args.users,
        duration_s=duration,
        seed=args.seed,
        links=args.links,
        slo=Slo(args.slo_p95_ms, args.slo_p99_ms, parse_share(args.slo_errors, "--slo-errors")),
        out=out,
        locustfile=_locustfile(args.locustfile),
        replicas_urls=replicas,
        steps=args.steps,
        server_pid=args.server_pid,
    )


def _loadtest(args: argparse.Namespace) -> int:
    checked = loadtest_args(args)
    _require("locust")
    from surge.capacity.loadtest import run_loadtest
    from surge.capacity.results import LoadTestError, summary

    try:
        result = run_loadtest(checked)
    except LoadTestError as exc:
        raise UsageError(str(exc)) from exc
    print(summary(result))
    return 1 if result["verdict"] == "fail" else 0


# --- surge capacity ----------------------------------------------------------------------------


def _capacity(args: argparse.Namespace, settings: Settings) -> int:
    _require("scipy", "statsmodels", "matplotlib")
    from surge.capacity.errors import CapacityError
    from surge.capacity.report import CapacityArgs, run_capacity

    if args.sweep is None and args.traffic is None and not args.from_db and not args.prometheus:
        raise UsageError(
            "give --sweep, a traffic history (--traffic, --from-db, --prometheus), or both"
        )
    horizon = parse_duration(args.horizon, "--horizon")
    _bounded(horizon, 3600, 2 * 365 * 86400, "--horizon (seconds)")
    history = parse_duration(args.history, "--history")
    _bounded(history, 86400, 3 * 365 * 86400, "--history (seconds)")
    _bounded(args.headroom, 0, 0.95, "--headroom")
    _bounded(args.replicas, 1, 10_000, "--replicas")
    if args.viral is not None:
        _bounded(args.viral, 1, 1000, "--viral")
    checked = CapacityArgs(
        sweep=args.sweep,
        traffic=args.traffic,
        from_db=args.from_db,
        prometheus=parse_base_url(args.prometheus, "--prometheus") if args.prometheus else None,
        prometheus_query=args.prometheus_query,
        history_s=history,
        horizon_s=horizon,
        headroom=args.headroom,
        replicas=args.replicas,
        viral=args.viral,
        out=args.out or Path("data") / "capacity" / _stamp(),
    )
    try:
        print(run_capacity(checked, settings))
    except CapacityError as exc:
        raise UsageError(str(exc)) from exc
    return 0
