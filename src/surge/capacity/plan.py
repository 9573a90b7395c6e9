"""From a USL fit and a forecast to replicas: how many, until when, and the autoscaler's range.

Headroom is the share of capacity kept spare: with 0.3 a replica is planned to run at most 70%
busy, so the demand a plan must carry is the band's upper edge / (1 - headroom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from surge.capacity.errors import CapacityError
from surge.capacity.forecast import Forecast
from surge.capacity.usl import UslFit

EXTRAPOLATION = 4.0  # trust the fitted peak up to this multiple of the largest measured level
MIN_REPLICAS = 2  # one replica is an outage on its first restart
NO_VIRAL_FACTOR = 2.0  # without --viral the autoscaler may still double for what nobody foresaw
MAX_REPLICAS = 10_000


@dataclass(frozen=True)
class Step:
    n: float  # users, or replicas
    throughput: float
    within_slo: bool | None = None


@dataclass(frozen=True)
class ReplicaModel:
    """What R replicas carry, from the fit: R times one replica's capacity when the sweep stepped
    concurrency on one replica; the curve itself when it stepped replicas."""

    fit: UslFit
    variable: str  # "users" or "replicas"
    per_replica: float | None
    basis: str

    def capacity(self, replicas: int) -> float:
        if self.per_replica is not None:
            return replicas * self.per_replica
        # Past the peak, more replicas carry less: a plan stops adding them at the peak.
        return self.fit.throughput(min(float(replicas), self.fit.peak_n))

    def replicas_for(self, demand: float, headroom: float) -> int | None:
        """The fewest replicas that carry `demand` with the headroom; None: no number does."""
        needed = demand / (1 - headroom)
        if self.per_replica is not None:
            # The epsilon keeps 3.0000000000000004 replicas' worth of rounding at 3.
            return max(1, math.ceil(needed / self.per_replica - 1e-9))
        top = min(MAX_REPLICAS, math.floor(self.fit.peak_n))
        return next((r for r in range(1, top + 1) if self.capacity(r) >= needed), None)


def replica_model(fit: UslFit, variable: str, steps: Sequence[Step]) -> ReplicaModel:
    if variable == "replicas":
        return ReplicaModel(fit, variable, None, "the fitted curve over replicas")
    largest = max(fit.n)
    if fit.peak_n <= EXTRAPOLATION * largest:
        capacity = fit.peak_x
        basis = f"the fitted peak, at {fit.peak_n:,.0f} users"
    else:
        capacity = fit.throughput(largest)
        basis = (
            f"the fit at {largest:,.0f} users, the most measured (its peak lies beyond "
            f"{EXTRAPOLATION:g}x that)"
        )
    judged = [s for s in steps if s.within_slo is not None]
    if any(not s.within_slo for s in judged):
        within = [s.throughput for s in judged if s.within_slo]
        if not within:
            raise CapacityError("no step of the sweep met the SLO: there is no capacity to plan")
        if max(within) < capacity:
            capacity = max(within)
            basis = "the most measured within the SLO (later steps missed it)"
    return ReplicaModel(fit, variable, capacity, basis)


@dataclass(frozen=True)
class Plan:
    headroom: float
    replicas_now: int
    recent_peak: float  # the history's last week
    peak: float  # the band's upper edge, its highest over the horizon
    peak_at: datetime
    needed: int | None
    runs_out: datetime | None  # the band's upper edge passes what replicas_now carry
    runs_out_expected: datetime | None  # the forecast itself does
    hpa_min: int | None
    hpa_max: int | None
    viral: float | None
    usable_now: float


def make_plan(
    model: ReplicaModel,
    predicted: Forecast,
    recent_peak: float,
    *,
    headroom: float,
    replicas_now: int,
    viral: float | None,
) -> Plan:
    peak_index = int(predicted.upper.argmax())
    peak = float(predicted.upper[peak_index])
    usable = model.capacity(replicas_now) * (1 - headroom)
    needed = model.replicas_for(peak, headroom)
    burst = model.replicas_for(peak * (viral or NO_VIRAL_FACTOR), headroom)
    hpa_min = None if needed is None else max(MIN_REPLICAS, needed)
    hpa_max = None if hpa_min is None or burst is None else max(hpa_min, burst)
    return Plan(
        headroom=headroom,
        replicas_now=replicas_now,
        recent_peak=recent_peak,
        peak=peak,
        peak_at=predicted.times[peak_index],
        needed=needed,
        runs_out=predicted.first_above(predicted.upper, usable),
        runs_out_expected=predicted.first_above(predicted.mean, usable),
        hpa_min=hpa_min,
        hpa_max=hpa_max,
        viral=viral,
        usable_now=usable,
    )
