"""The capacity report's two PNGs (matplotlib's object API: no pyplot state, no display)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from numpy.typing import NDArray

from surge.capacity.forecast import Forecast
from surge.capacity.history import History
from surge.capacity.plan import Plan, ReplicaModel

SIZE = (9.0, 4.8)
DPI = 110


def plot_usl(model: ReplicaModel, path: Path) -> None:
    """Measured points and the fitted curve, with the peak marked."""
    fit = model.fit
    largest = max(fit.n)
    right = largest * 1.5
    if math.isfinite(fit.peak_n):
        right = max(right, min(fit.peak_n * 1.3, largest * 4))
    n = np.linspace(1, right, 400)
    figure = Figure(figsize=SIZE)
    ax = figure.subplots()
    ax.plot(n, [fit.throughput(v) for v in n], color="tab:blue", label="USL fit")
    ax.scatter(fit.n, fit.x, color="black", zorder=3, label="measured")
    if math.isfinite(fit.peak_n) and fit.peak_n <= right:
        ax.axvline(fit.peak_n, color="tab:red", linestyle=":", linewidth=1)
        ax.annotate(
            f"peak {fit.peak_x:,.0f}/s at N={fit.peak_n:,.0f}",
            (fit.peak_n, fit.peak_x),
            textcoords="offset points",
            xytext=(6, -14),
            color="tab:red",
        )
    ax.set_xlabel("concurrent users" if model.variable == "users" else "replicas")
    ax.set_ylabel("throughput (requests/s)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.set_title(
        f"Universal Scalability Law: lambda {fit.lam:,.0f}/s, sigma {fit.sigma:.4f}, "
        f"kappa {0.0 if fit.kappa < 1e-12 else fit.kappa:.2e}, R² {fit.r2:.3f}",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)


def plot_forecast(
    history: History,
    predicted: Forecast,
    path: Path,
    *,
    model: ReplicaModel | None = None,
    plan: Plan | None = None,
) -> None:
    """History, the forecast and its band, and what the replicas carry with the headroom."""
    # matplotlib's date functions are untyped: days since its epoch, as floats, from here on.
    past: NDArray[np.float64] = date2num(history.times)  # type: ignore[no-untyped-call]
    future: NDArray[np.float64] = date2num(predicted.times)  # type: ignore[no-untyped-call]
    figure = Figure(figsize=SIZE)
    ax = figure.subplots()
    ax.plot(past, history.rps, color="black", linewidth=0.7, label="history")
    ax.fill_between(
        future,
        predicted.lower,
        predicted.upper,
        color="tab:orange",
        alpha=0.45,
        linewidth=0,
        label=f"{predicted.level:.0%} band",
    )
    ax.plot(future, predicted.mean, color="tab:blue", linewidth=0.6, label="forecast")
    top = max(float(np.max(predicted.upper)), max(history.rps), 1e-9) * 1.25
    if model is not None and plan is not None and plan.usable_now > 2 * top:
        # Far above the traffic: drawn to scale, the traffic would be a flat line at 0.
        ax.text(
            0.99,
            0.97,
            f"{plan.replicas_now} replica(s) carry {plan.usable_now:,.0f}/s at "
            f"{1 - plan.headroom:.0%} busy: off this chart",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="tab:red",
        )
    elif model is not None and plan is not None:
        top = max(top, plan.usable_now * 1.1)
        ax.axhline(
            plan.usable_now,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"{plan.replicas_now} replica(s), {1 - plan.headroom:.0%} busy",
        )
        if plan.needed is not None and plan.needed != plan.replicas_now:
            carried = model.capacity(plan.needed) * (1 - plan.headroom)
            top = max(top, carried * 1.1)
            ax.axhline(
                carried,
                color="tab:green",
                linestyle="--",
                linewidth=1,
                label=f"{plan.needed} replicas, {1 - plan.headroom:.0%} busy",
            )
        if plan.runs_out is not None:
            when = float(date2num(plan.runs_out))  # type: ignore[no-untyped-call]
            ax.axvline(when, color="tab:red", linestyle=":", linewidth=1, label="runs out")
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_ylabel("requests/s")
    ax.set_ylim(0, top)
    ax.set_title("Traffic: history, forecast and capacity", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
