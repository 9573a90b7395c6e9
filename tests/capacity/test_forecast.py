"""The forecast: on a series with a known trend and daily and weekly seasons it finds when
traffic outgrows a capacity, within days; its band brackets the truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from surge.capacity.forecast import forecast
from surge.capacity.history import History
from surge.capacity.plan import ReplicaModel, make_plan
from surge.capacity.usl import fit_usl

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
HOURS = 8 * 7 * 24
PER_DAY = 20.0  # requests/s the traffic grows each day


def truth(hours: np.ndarray) -> np.ndarray:
    """1,000 req/s growing 20 a day, ±300 over the day, 150 less at weekends."""
    weekend = ((hours // 24) % 7) >= 5
    return 1000 + PER_DAY * hours / 24 + 300 * np.sin(2 * np.pi * hours / 24) - 150 * weekend


def synthetic(seed: int) -> History:
    hours = np.arange(HOURS)
    noisy = truth(hours) + np.random.default_rng(seed).normal(0, 20, HOURS)
    return History(START, 3600.0, tuple(noisy.tolist()), "synthetic")


@pytest.mark.parametrize("seed", [1, 2])
def test_forecast_finds_when_traffic_outgrows_capacity(seed: int) -> None:
    capacity = 3300.0
    future = np.arange(HOURS, HOURS + 90 * 24)
    crossing = START + timedelta(hours=int(future[np.argmax(truth(future) > capacity)]))

    predicted = forecast(synthetic(seed), 90 * 86400)

    assert predicted.season == 168  # a week of hours: the daily cycle rides inside it
    assert len(predicted.mean) == 90 * 24
    expected = predicted.first_above(predicted.mean, capacity)
    assert expected is not None
    assert abs(expected - crossing) <= timedelta(days=3), (expected, crossing)
    # The band's upper edge warns no later than the forecast itself.
    early = predicted.first_above(predicted.upper, capacity)
    assert early is not None
    assert early <= expected
    # Over the next week the band holds the noise-free truth nearly everywhere.
    week = slice(0, 7 * 24)
    inside = (predicted.lower[week] <= truth(future)[week]) & (
        truth(future)[week] <= predicted.upper[week]
    )
    assert inside.mean() > 0.85


def test_plan_turns_the_band_into_replicas_and_a_date() -> None:
    levels = [1, 2, 4, 8, 16, 32]
    fit = fit_usl(levels, [400.0 * n / (1 + 0.05 * (n - 1)) for n in levels])
    model = ReplicaModel(fit, "users", 1000.0, "given")  # a replica carries 1,000 req/s

    predicted = forecast(synthetic(3), 90 * 86400)
    plan = make_plan(model, predicted, 2500.0, headroom=0.3, replicas_now=3, viral=10)

    # 3 replicas at 70%: 2,100 req/s, already below this week's peaks.
    assert plan.usable_now == pytest.approx(2100)
    assert plan.runs_out == predicted.start
    assert plan.needed == int(np.ceil(plan.peak / 0.7 / 1000 - 1e-9))
    assert plan.hpa_min == plan.needed
    assert plan.hpa_max == int(np.ceil(plan.peak * 10 / 0.7 / 1000 - 1e-9))


def test_short_history_forecasts_a_trend_without_a_season() -> None:
    history = History(START, 3600.0, tuple(100.0 + i for i in range(30)), "short")

    predicted = forecast(history, 86400)

    assert predicted.season is None
    assert predicted.notes
    assert predicted.mean[-1] == pytest.approx(100 + 29 + 24, rel=0.05)
