"""Forecast traffic: Holt-Winters exponential smoothing (statsmodels) with an additive trend and
season, and a prediction band from simulated futures.

The season is a week when the history holds two or more (on hourly data 168 intervals, which
carry the daily cycle as well as weekdays against weekends), else a day, else none.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from surge.capacity.errors import CapacityError
from surge.capacity.history import History

LEVEL = 0.90  # the band holds 90% of the simulated futures
SIMULATIONS = 400
WEEK_S, DAY_S = 7 * 86400.0, 86400.0


@dataclass(frozen=True)
class Forecast:
    start: datetime  # of the first forecast interval: the end of the history
    step_s: float
    mean: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    season: int | None  # intervals per season
    level: float
    notes: tuple[str, ...]

    @property
    def times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=i * self.step_s) for i in range(len(self.mean))]

    def first_above(self, series: NDArray[np.float64], limit: float) -> datetime | None:
        """When `series` (mean, lower or upper) first goes above `limit`; None: never."""
        above = np.flatnonzero(series > limit)
        if not len(above):
            return None
        return self.start + timedelta(seconds=int(above[0]) * self.step_s)


def season_of(history: History) -> int | None:
    for length_s in (WEEK_S, DAY_S):
        period = round(length_s / history.step_s)
        if period >= 2 and len(history.rps) >= 2 * period:
            return period
    return None


def forecast(history: History, horizon_s: float, *, seed: int = 1) -> Forecast:
    """`horizon_s` ahead of the history's end: the expected traffic and the band."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = np.asarray(history.rps, dtype=float)
    if len(values) < 10 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise CapacityError("the history needs at least 10 intervals of counts (0 or more)")
    steps = max(1, math.ceil(horizon_s / history.step_s))
    season = season_of(history)
    notes = []
    if season is None:
        notes.append("under two days of history: no season, trend only")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ExponentialSmoothing(
            values,
            trend="add",
            seasonal="add" if season else None,
            seasonal_periods=season,
            initialization_method="estimated",
        )
        # Initial states estimated with the smoothing weights, not taken from the first cycles:
        # the heuristic start misjudges the trend, which moves the date capacity runs out by days.
        # A weekly season of hours has 170 states; scipy's default budget of function calls
        # (15,000) stops just short of converging on it.
        fitted = model.fit(minimize_kwargs={"options": {"maxfun": 100_000}})
        mean = np.asarray(fitted.forecast(steps), dtype=float)
        futures = np.asarray(
            fitted.simulate(
                steps, repetitions=SIMULATIONS, error="add", anchor="end", random_state=seed
            ),
            dtype=float,
        ).reshape(steps, -1)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("the optimiser reported no convergence: check the fit against the plot")
    tail = (1 - LEVEL) / 2
    lower = np.quantile(futures, tail, axis=1)
    upper = np.quantile(futures, 1 - tail, axis=1)
    # Traffic is never negative: a band reaching below 0 says "little", not "minus".
    return Forecast(
        start=history.end,
        step_s=history.step_s,
        mean=np.clip(mean, 0, None),
        lower=np.clip(lower, 0, None),
        upper=np.clip(np.maximum(upper, mean), 0, None),
        season=season,
        level=LEVEL,
        notes=tuple(notes),
    )
