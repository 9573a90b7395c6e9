"""The USL fit: it recovers known parameters from noisy measurements, and refuses what cannot
carry a fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surge.capacity.errors import CapacityError
from surge.capacity.plan import ReplicaModel, Step, replica_model
from surge.capacity.usl import fit_usl, usl

LEVELS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [(1000.0, 0.05, 5e-4), (3300.0, 0.15, 3e-4), (500.0, 0.01, 2e-3)],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_recovers_sigma_and_kappa_from_noisy_measurements(
    lam: float, sigma: float, kappa: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    measured = usl(LEVELS, lam, sigma, kappa) * (1 + rng.normal(0, 0.02, len(LEVELS)))

    fit = fit_usl(LEVELS, measured.tolist())

    assert fit.sigma == pytest.approx(sigma, abs=0.02)
    assert fit.kappa == pytest.approx(kappa, rel=0.2)
    assert fit.lam == pytest.approx(lam, rel=0.1)
    true_peak = math.sqrt((1 - sigma) / kappa)
    assert fit.peak_n == pytest.approx(true_peak, rel=0.15)
    assert fit.r2 > 0.95
    # The reported errors are standard errors: the truth lies within a few of them.
    assert fit.sigma_se is not None
    assert fit.kappa_se is not None
    assert abs(fit.sigma - sigma) < 4 * fit.sigma_se + 1e-3
    assert abs(fit.kappa - kappa) < 4 * fit.kappa_se + 1e-6


def test_linear_scaling_has_no_peak() -> None:
    fit = fit_usl([1, 2, 4, 8], [100, 200, 400, 800])

    assert fit.sigma == pytest.approx(0, abs=1e-3)
    assert fit.kappa == pytest.approx(0, abs=1e-5)
    assert fit.throughput(16) == pytest.approx(1600, rel=0.01)


def test_three_points_fit_without_error_estimates() -> None:
    fit = fit_usl([1, 4, 16], [100, 300, 500])

    assert fit.sigma_se is None
    assert fit.throughput(4) == pytest.approx(300, rel=0.05)


@pytest.mark.parametrize(
    ("n", "x", "message"),
    [
        ([4], [100], "needs throughput at 3 or more concurrency levels, the sweep has 1"),
        ([1, 2, 2], [10, 20, 20], "the sweep has 2"),
        ([1, 2, 4], [0, 0, 0], "measured no throughput"),
        ([1, 2, 4], [10, -5, 30], "negative throughput"),
        ([0, 2, 4], [10, 20, 30], "concurrency below 1"),
    ],
)
def test_unusable_sweeps_are_refused_with_a_reason(
    n: list[float], x: list[float], message: str
) -> None:
    with pytest.raises(CapacityError, match=message):
        fit_usl(n, x)


def test_one_replica_carries_the_peak_unless_the_slo_was_missed_before_it() -> None:
    levels = [1, 2, 4, 8, 16, 32, 64]
    measured = usl(levels, 1000, 0.05, 5e-4).tolist()
    fit = fit_usl(levels, measured)
    steps = [Step(n, x, within_slo=True) for n, x in zip(levels, measured, strict=True)]

    assert replica_model(fit, "users", steps).per_replica == pytest.approx(fit.peak_x)

    # Past 16 users the SLO failed: a replica is planned at what it did within it.
    judged = [Step(s.n, s.throughput, within_slo=s.n <= 16) for s in steps]
    model = replica_model(fit, "users", judged)
    assert model.per_replica == pytest.approx(measured[4])
    assert model.replicas_for(3 * measured[4] * 0.7, headroom=0.3) == 3
    assert model.replicas_for(3 * measured[4] * 0.7 + 1, headroom=0.3) == 4

    with pytest.raises(CapacityError, match="no step of the sweep met the SLO"):
        replica_model(fit, "users", [Step(s.n, s.throughput, within_slo=False) for s in steps])


def test_a_replica_sweep_plans_on_the_curve_and_stops_at_its_peak() -> None:
    replicas = [1, 2, 3, 4, 5, 6, 8]
    fit = fit_usl(replicas, usl(replicas, 1000, 0.1, 0.01).tolist())
    model = ReplicaModel(fit, "replicas", None, "curve")

    assert model.replicas_for(0.7 * fit.throughput(3), headroom=0.3) == 3
    # More than the peak of the curve: no number of replicas carries it.
    assert model.replicas_for(fit.peak_x, headroom=0.3) is None
