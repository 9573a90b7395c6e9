"""The Universal Scalability Law (Gunther), fitted to a sweep by least squares (scipy).

    X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))

N is the concurrency (or the replica count), X the throughput. lambda is the throughput of one,
sigma the share of the work that serializes (contention: a lock, one core, one connection),
kappa the cost of keeping N parties coherent (crosstalk: it makes throughput fall past the peak
at N* = sqrt((1 - sigma) / kappa)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from surge.capacity.errors import CapacityError

MIN_POINTS = 3  # three parameters


def usl(n: ArrayLike, lam: float, sigma: float, kappa: float) -> NDArray[np.float64]:
    n = np.asarray(n, dtype=float)
    result: NDArray[np.float64] = lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))
    return result


@dataclass(frozen=True)
class UslFit:
    lam: float
    sigma: float
    kappa: float
    # Standard errors from the fit's Jacobian; None with no degrees of freedom left (3 points).
    lam_se: float | None
    sigma_se: float | None
    kappa_se: float | None
    r2: float
    rmse: float  # throughput units
    n: tuple[float, ...]
    x: tuple[float, ...]

    @property
    def peak_n(self) -> float:
        """Where throughput peaks; infinite without crosstalk (kappa = 0)."""
        if self.kappa <= 0:
            return math.inf
        return math.sqrt(max(0.0, 1 - self.sigma) / self.kappa)

    @property
    def peak_x(self) -> float:
        """The peak throughput; without crosstalk, the ceiling lambda/sigma it approaches."""
        if math.isinf(self.peak_n):
            return self.lam / self.sigma if self.sigma > 0 else math.inf
        return self.throughput(self.peak_n)

    def throughput(self, n: float) -> float:
        return float(usl(n, self.lam, self.sigma, self.kappa))


def fit_usl(n: Sequence[float], x: Sequence[float]) -> UslFit:
    """Fit lambda, sigma, kappa to measured (N, X); CapacityError when the points cannot
    carry a fit."""
    n_arr = np.asarray(n, dtype=float)
    x_arr = np.asarray(x, dtype=float)
    if n_arr.shape != x_arr.shape or n_arr.ndim != 1:
        raise CapacityError("the sweep's concurrency and throughput do not pair up")
    if not np.all(np.isfinite(n_arr)) or not np.all(np.isfinite(x_arr)):
        raise CapacityError("the sweep has a step without a number")
    if np.any(n_arr < 1):
        raise CapacityError("the sweep has a step with concurrency below 1")
    if np.any(x_arr < 0):
        raise CapacityError("the sweep has a step with negative throughput")
    if not np.any(x_arr > 0):
        raise CapacityError("the sweep measured no throughput at any step")
    if len(np.unique(n_arr[x_arr > 0])) < MIN_POINTS:
        raise CapacityError(
            f"a USL fit needs throughput at {MIN_POINTS} or more concurrency levels, "
            f"the sweep has {len(np.unique(n_arr[x_arr > 0]))}"
        )
    # Relative residuals: a measurement's noise grows with its throughput, so each point counts
    # by its share (a step that measured ~nothing counts as 5% of the largest).
    weight = 1 / np.maximum(x_arr, 0.05 * float(x_arr.max()))

    def residuals(p: NDArray[np.float64]) -> NDArray[np.float64]:
        relative: NDArray[np.float64] = (usl(n_arr, p[0], p[1], p[2]) - x_arr) * weight
        return relative

    first = float(np.max(x_arr / n_arr))  # lambda is at least what one user did per unit of N
    result = least_squares(
        residuals,
        x0=[first, 0.05, 1e-4],
        bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, 1.0]),
        x_scale="jac",
    )
    lam, sigma, kappa = (float(v) for v in result.x)
    dof = len(n_arr) - 3
    errors: list[float | None] = [None, None, None]
    if dof > 0:
        jac = result.jac
        variance = 2 * float(result.cost) / dof  # cost is half the sum of squares
        covariance = np.linalg.pinv(jac.T @ jac) * variance
        errors = [float(math.sqrt(max(0.0, c))) for c in np.diag(covariance)]
    predicted = usl(n_arr, lam, sigma, kappa)
    ss_res = float(np.sum((x_arr - predicted) ** 2))
    ss_tot = float(np.sum((x_arr - x_arr.mean()) ** 2))
    return UslFit(
        lam=lam,
        sigma=sigma,
        kappa=kappa,
        lam_se=errors[0],
        sigma_se=errors[1],
        kappa_se=errors[2],
        r2=1 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        rmse=math.sqrt(ss_res / len(n_arr)),
        n=tuple(float(v) for v in n_arr),
        x=tuple(float(v) for v in x_arr),
    )
