"""`surge capacity`: a sweep and a traffic history in; a table, report.md, capacity.json and
PNG plots out."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from surge.capacity.errors import CapacityError
from surge.capacity.forecast import Forecast, forecast
from surge.capacity.history import (
    History,
    read_clickhouse,
    read_csv,
    read_database,
    read_prometheus,
)
from surge.capacity.plan import EXTRAPOLATION, Plan, ReplicaModel, Step, make_plan, replica_model
from surge.capacity.plots import plot_forecast, plot_usl
from surge.capacity.usl import UslFit, fit_usl
from surge.platform.clock import utc_now
from surge.platform.config import Settings

WEEK_S = 7 * 86400


@dataclass(frozen=True)
class CapacityArgs:
    sweep: Path | None
    traffic: Path | None
    from_db: bool
    prometheus: str | None
    prometheus_query: str | None
    history_s: float
    horizon_s: float
    headroom: float
    replicas: int
    viral: float | None
    out: Path


def read_sweep(path: Path) -> tuple[str, list[Step]]:
    """The sweep variable ("users" or "replicas") and its steps, from a loadtest result.json."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise CapacityError(f"--sweep: no such file: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CapacityError(f"--sweep: {path} is not a JSON result: {exc}") from None
    steps = raw.get("steps") if isinstance(raw, dict) else None
    if not steps or not isinstance(steps, list):
        raise CapacityError(
            f"--sweep: {path} holds no sweep steps (from `surge loadtest --scenario sweep`)"
        )
    variable = raw.get("sweep_variable", "users")
    if variable not in ("users", "replicas"):
        raise CapacityError(f"--sweep: {path}: sweep_variable is {variable!r}")
    try:
        parsed = [
            Step(float(s[variable]), float(s["throughput"]), s.get("within_slo")) for s in steps
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise CapacityError(
            f"--sweep: {path}: a step lacks {variable} or throughput ({exc!r})"
        ) from None
    return variable, parsed


def read_history(args: CapacityArgs, settings: Settings, now: datetime) -> History | None:
    if args.traffic is not None:
        return read_csv(args.traffic)
    if args.from_db and settings.clickhouse_url is not None:  # the clicks live there
        return asyncio.run(read_clickhouse(settings.clickhouse_url, args.history_s, now))
    if args.from_db:
        return asyncio.run(read_database(settings.database_url, args.history_s, now))
    if args.prometheus:
        return read_prometheus(args.prometheus, args.prometheus_query, args.history_s, now)
    return None


def run_capacity(args: CapacityArgs, settings: Settings, now: datetime | None = None) -> str:
    """Everything `surge capacity` does; returns the terminal table."""
    now = now or utc_now()
    model = None
    if args.sweep is not None:
        variable, steps = read_sweep(args.sweep)
        fit = fit_usl([s.n for s in steps], [s.throughput for s in steps])
        model = replica_model(fit, variable, steps)
    history = read_history(args, settings, now)
    predicted = plan = None
    if history is not None:
        predicted = forecast(history, args.horizon_s)
        if model is not None:
            last_week = history.rps[-max(1, round(WEEK_S / history.step_s)) :]
            plan = make_plan(
                model,
                predicted,
                max(last_week),
                headroom=args.headroom,
                replicas_now=args.replicas,
                viral=args.viral,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    if model is not None:
        plot_usl(model, args.out / "usl.png")
    if history is not None and predicted is not None:
        plot_forecast(history, predicted, args.out / "forecast.png", model=model, plan=plan)
    lines = _lines(args, model, history, predicted, plan, now)
    (args.out / "report.md").write_text(_markdown(args, lines, model, history))
    (args.out / "capacity.json").write_text(
        json.dumps(_figures(args, model, history, predicted, plan), indent=2, default=str)
    )
    return "\n".join(
        [*lines, f"report: {args.out / 'report.md'} (plots and capacity.json beside it)"]
    )


def _se(value: float | None, digits: str) -> str:
    return "" if value is None else f" ± {value:{digits}}"


def _day(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "not within the horizon"
    return (
        f"{when:%Y-%m-%d %H:%M} UTC (in {max(0.0, (when - now).total_seconds()) / 86400:.0f} days)"
    )


def _kappa(fit: UslFit) -> str:
    # At its bound the optimiser leaves 1e-20 or so: that is no crosstalk measured, not a value.
    kappa = "0" if fit.kappa < 1e-12 else f"{fit.kappa:.3g}"
    return kappa + _se(fit.kappa_se, ".2g")


def _lines(
    args: CapacityArgs,
    model: ReplicaModel | None,
    history: History | None,
    predicted: Forecast | None,
    plan: Plan | None,
    now: datetime,
) -> list[str]:
    lines = []
    if model is not None:
        fit = model.fit
        peak = (
            f"peak {fit.peak_x:,.0f} req/s at {fit.peak_n:,.0f} {model.variable}"
            if fit.peak_n <= EXTRAPOLATION * max(fit.n)
            else f"no peak within {EXTRAPOLATION:g}x the measured range: the curve flattens "
            f"towards lambda/sigma = {fit.lam / max(fit.sigma, 1e-12):,.0f} req/s"
        )
        lines += [
            f"USL fit over {len(fit.n)} steps of {model.variable}: "
            f"lambda {fit.lam:,.1f}{_se(fit.lam_se, ',.1f')} req/s, "
            f"sigma {fit.sigma:.4f}{_se(fit.sigma_se, '.4f')}, "
            f"kappa {_kappa(fit)}; R² {fit.r2:.3f}, "
            f"RMSE {fit.rmse:,.0f} req/s",
            f"  {peak}",
        ]
        if model.per_replica is not None:
            lines.append(
                f"  one replica carries {model.per_replica:,.0f} req/s ({model.basis}); "
                f"{model.per_replica * (1 - args.headroom):,.0f} with {args.headroom:.0%} headroom"
            )
    if history is not None and predicted is not None:
        days = len(history.rps) * history.step_s / 86400
        season = (
            "none"
            if predicted.season is None
            else f"{predicted.season * history.step_s / 3600:g} h"
        )
        lines += [
            f"history: {history.source}, {days:.1f} days at {history.step_s / 3600:g} h steps"
            + (f" ({history.interpolated} intervals interpolated)" if history.interpolated else ""),
            f"  forecast {args.horizon_s / 86400:g} days, season {season}, "
            f"{predicted.level:.0%} band; at the horizon {predicted.mean[-1]:,.1f} req/s "
            f"(band {predicted.lower[-1]:,.1f} to {predicted.upper[-1]:,.1f})",
            *(f"  note: {note}" for note in predicted.notes),
        ]
    if plan is not None:
        needed = "no number (past the fitted peak)" if plan.needed is None else str(plan.needed)
        lines += [
            f"plan, headroom {plan.headroom:.0%} (replicas at most {1 - plan.headroom:.0%} busy):",
            f"  last week's peak {plan.recent_peak:,.1f} req/s; the band's upper edge peaks at "
            f"{plan.peak:,.1f} req/s on {plan.peak_at:%Y-%m-%d}",
            f"  replicas needed for it: {needed}",
            f"  {plan.replicas_now} replica(s) carry {plan.usable_now:,.0f} req/s; they run out: "
            f"{_day(plan.runs_out, now)} (band's upper edge), "
            f"{_day(plan.runs_out_expected, now)} (forecast)",
        ]
        if plan.hpa_min is not None:
            burst = f"a {plan.viral:g}x burst" if plan.viral else "a doubling"
            top = "none" if plan.hpa_max is None else str(plan.hpa_max)
            lines.append(f"  HPA: minReplicas {plan.hpa_min}, maxReplicas {top} ({burst})")
    return lines


def _markdown(
    args: CapacityArgs, lines: list[str], model: ReplicaModel | None, history: History | None
) -> str:
    parts = ["# Capacity plan", "", "```", *lines, "```", ""]
    if model is not None:
        parts += [
            f"| {model.variable} | measured req/s | fitted req/s |",
            "|---:|---:|---:|",
            *(
                f"| {n:g} | {x:,.0f} | {model.fit.throughput(n):,.0f} |"
                for n, x in zip(model.fit.n, model.fit.x, strict=True)
            ),
            "",
            "![measured throughput and the USL fit](usl.png)",
            "",
        ]
    if history is not None:
        parts += ["![history, forecast band and capacity](forecast.png)", ""]
    sources = {
        "--sweep": args.sweep,
        "--traffic": args.traffic,
        "--from-db": args.from_db or None,
        "--prometheus": args.prometheus,
    }
    given = " ".join(f"{k} {v}" if v is not True else k for k, v in sources.items() if v)
    parts.append(f"Inputs: {given}; horizon {args.horizon_s / 86400:g} days.")
    return "\n".join(parts) + "\n"


def _figures(
    args: CapacityArgs,
    model: ReplicaModel | None,
    history: History | None,
    predicted: Forecast | None,
    plan: Plan | None,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"headroom": args.headroom, "horizon_days": args.horizon_s / 86400}
    if model is not None:
        fit = model.fit
        figures["usl"] = {
            "variable": model.variable,
            "lambda": fit.lam,
            "sigma": fit.sigma,
            "kappa": fit.kappa,
            "lambda_se": fit.lam_se,
            "sigma_se": fit.sigma_se,
            "kappa_se": fit.kappa_se,
            "r2": fit.r2,
            "rmse": fit.rmse,
            "peak_n": fit.peak_n if math.isfinite(fit.peak_n) else None,
            "peak_throughput": fit.peak_x if math.isfinite(fit.peak_x) else None,
            "per_replica": model.per_replica,
            "basis": model.basis,
            "points": [{"n": n, "throughput": x} for n, x in zip(fit.n, fit.x, strict=True)],
        }
    if history is not None and predicted is not None:
        figures["forecast"] = {
            "source": history.source,
            "history_start": history.start,
            "step_s": history.step_s,
            "season": predicted.season,
            "level": predicted.level,
            "horizon_mean": float(predicted.mean[-1]),
            "horizon_upper": float(predicted.upper[-1]),
            "notes": list(predicted.notes),
        }
    if plan is not None:
        figures["plan"] = {
            "replicas_now": plan.replicas_now,
            "recent_peak": plan.recent_peak,
            "peak": plan.peak,
            "peak_at": plan.peak_at,
            "replicas_needed": plan.needed,
            "runs_out": plan.runs_out,
            "runs_out_expected": plan.runs_out_expected,
            "hpa_min": plan.hpa_min,
            "hpa_max": plan.hpa_max,
            "viral": plan.viral,
        }
    return figures
