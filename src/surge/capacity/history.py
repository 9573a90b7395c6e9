"""Traffic history for the forecast, as requests per second on a regular grid: from a CSV, from
Surge's own hourly click rollups, or from Prometheus."""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from surge.capacity.errors import CapacityError

HOUR_S = 3600.0
MIN_POINTS = 24  # a day of hours: less carries no shape to forecast
# Redirects answered per second, averaged over each hour (an hourly step samples every hour).
DEFAULT_QUERY = 'sum(rate(surge_http_requests_total{service="redirect", route="/{slug}"}[1h]))'
PROMETHEUS_MAX_POINTS = 11_000  # per series and query, Prometheus's own limit


@dataclass(frozen=True)
class History:
    start: datetime  # of the first interval, UTC
    step_s: float
    rps: tuple[float, ...]  # mean requests per second in each interval
    source: str
    interpolated: int = 0  # intervals with no data, filled in between their neighbours

    @property
    def times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=i * self.step_s) for i in range(len(self.rps))]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=len(self.rps) * self.step_s)


def regular(
    points: Sequence[tuple[datetime, float]],
    source: str,
    *,
    step_s: float | None = None,
    until: datetime | None = None,
    fill_zero: bool = False,
) -> History:
    """Points (time, requests/s) onto a regular grid of `step_s` (default: their median
    spacing, hourly means when finer), up to `until` if given. Empty intervals are 0 with
    `fill_zero` (rollups: no row is no click), else interpolated between their neighbours."""
    if len(points) < 2 and step_s is None:
        raise CapacityError(
            f"{source} has {len(points)} point{'s' * (len(points) != 1)}: a forecast needs at "
            f"least {MIN_POINTS} hours of history"
        )
    ordered = sorted(points)
    origin = ordered[0][0]
    seconds = [(t - origin).total_seconds() for t, _ in ordered]
    gaps = [b - a for a, b in itertools.pairwise(seconds)]
    if gaps and min(gaps) <= 0:
        raise CapacityError(f"{source} has the same timestamp twice")
    step = step_s or max(HOUR_S, statistics.median(gaps))
    buckets: dict[int, list[float]] = {}
    for offset, (_, value) in zip(seconds, ordered, strict=True):
        buckets.setdefault(int(offset // step), []).append(value)
    count = max(buckets) + 1
    if until is not None:
        count = max(count, math.ceil((until - origin).total_seconds() / step))
    if count < MIN_POINTS:
        raise CapacityError(
            f"{source} spans {count} interval{'s' * (count != 1)} of {step / HOUR_S:g} h: a "
            f"forecast needs at least {MIN_POINTS}"
        )
    values: list[float | None] = [
        statistics.fmean(buckets[i]) if i in buckets else (0.0 if fill_zero else None)
        for i in range(count)
    ]
    missing = sum(v is None for v in values)
    return History(origin, step, _interpolate(values), source, missing)


def _interpolate(values: list[float | None]) -> tuple[float, ...]:
    known = [i for i, v in enumerate(values) if v is not None]
    out = []
    for i, value in enumerate(values):
        if value is not None:
            out.append(value)
            continue
        left = max(k for k in known if k < i)  # the first and last are always known
        right = min(k for k in known if k > i)
        lv, rv = values[left], values[right]
        assert lv is not None
        assert rv is not None
        out.append(lv + (rv - lv) * (i - left) / (right - left))
    return tuple(out)


# --- CSV ---------------------------------------------------------------------------------------


def _timestamp(text: str, where: str) -> datetime:
    value = text.strip()
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise CapacityError(
            f"{where}: cannot read the timestamp {text!r} (ISO 8601 or Unix seconds)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_csv(path: Path) -> History:
    """`timestamp,rps` (requests per second) or `timestamp,requests` (requests in each interval,
    up to the next timestamp); a header line first; naive timestamps are UTC."""
    try:
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise CapacityError(f"--traffic: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CapacityError(f"--traffic: cannot read {path}: {exc}") from None
    if not rows:
        raise CapacityError(f"--traffic: {path} is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    if len(header) < 2 or header[1] not in ("rps", "requests"):
        raise CapacityError(
            f"--traffic: {path} must start with a header line `timestamp,rps` or "
            "`timestamp,requests`"
        )
    points = []
    for number, row in enumerate(rows[1:], start=2):
        where = f"{path} line {number}"
        if len(row) < 2:
            raise CapacityError(f"{where}: expected a timestamp and a number")
        try:
            value = float(row[1])
        except ValueError:
            raise CapacityError(f"{where}: {row[1].strip()!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise CapacityError(f"{where}: {row[1].strip()!r} is not a count (0 or more)")
        points.append((_timestamp(row[0], where), value))
    history = regular(points, str(path))
    if header[1] == "requests":
        spacing = _spacing(points)
        history = History(
            history.start,
            history.step_s,
            tuple(v / spacing for v in history.rps),
            history.source,
            history.interpolated,
        )
    return history


def _spacing(points: Sequence[tuple[datetime, float]]) -> float:
    times = sorted(t for t, _ in points)
    return statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(times))


# --- Surge's rollups ---------------------------------------------------------------------------


async def read_database(database_url: str, history_s: float, now: datetime) -> History:
    """Clicks per hour, bots included (they load the redirect too), from `hourly_clicks`, for
    the complete hours of the last `history_s` (the current hour is still filling)."""
    from sqlalchemy import func, select

    from surge.data.tables import hourly_clicks
    from surge.platform.db import create_engine
    from surge.platform.migrations import is_current

    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    since = end - timedelta(seconds=history_s)
    engine = create_engine(database_url)
    try:
        if not await is_current(engine):
            raise CapacityError("the database schema is not current: run `surge migrate` first")
        query = (
            select(hourly_clicks.c.bucket, func.sum(hourly_clicks.c.clicks))
            .where(hourly_clicks.c.bucket >= since, hourly_clicks.c.bucket < end)
            .group_by(hourly_clicks.c.bucket)
            .order_by(hourly_clicks.c.bucket)
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except CapacityError:
        raise
    except Exception as exc:  # unreachable, refused: say which, in one line
        raise CapacityError(f"cannot read the click rollups: {exc!r}"[:300]) from exc
    finally:
        await engine.dispose()
    if not rows:
        raise CapacityError(
            f"no clicks in the database's rollups in the last {history_s / 86400:g} days"
        )
    # From the first hour with clicks: hours before it are before Surge counted, not zero.
    points = [(bucket.astimezone(UTC), float(clicks) / HOUR_S) for bucket, clicks in rows]
    return regular(points, "the click rollups", step_s=HOUR_S, until=end, fill_zero=True)


async def read_clickhouse(url: str, history_s: float, now: datetime) -> History:
    """`read_database` where the clicks live in ClickHouse (SURGE_CLICKHOUSE_URL)."""
    from surge.analytics.clickhouse_repository import ClickHouseClicks
    from surge.platform.clickhouse import HttpClickHouse

    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    clickhouse = HttpClickHouse(url)
    try:
        rows = await ClickHouseClicks(clickhouse).clicks_per_hour(
            end - timedelta(seconds=history_s), end
        )
    except Exception as exc:  # unreachable, refused: say which, in one line
        raise CapacityError(f"cannot read the clicks in ClickHouse: {exc!r}"[:300]) from exc
    finally:
        await clickhouse.aclose()
    if not rows:
        raise CapacityError(f"no clicks in ClickHouse in the last {history_s / 86400:g} days")
    points = [(hour, n / HOUR_S) for hour, n in rows]
    return regular(points, "the clicks in ClickHouse", step_s=HOUR_S, until=end, fill_zero=True)


# --- Prometheus --------------------------------------------------------------------------------


def read_prometheus(
    url: str,
    query: str | None,
    history_s: float,
    now: datetime,
    transport: httpx.BaseTransport | None = None,
) -> History:
    """The query's values at each hour of the last `history_s`, summed over its series."""
    query = query or DEFAULT_QUERY
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if history_s / HOUR_S > PROMETHEUS_MAX_POINTS:
        raise CapacityError(f"--history: Prometheus answers at most {PROMETHEUS_MAX_POINTS} hours")
    params = {
        "query": query,
        "start": str((end - timedelta(seconds=history_s)).timestamp()),
        "end": str(end.timestamp()),
        "step": str(int(HOUR_S)),
    }
    try:
        with httpx.Client(transport=transport, timeout=30.0) as client:
            response = client.get(f"{url}/api/v1/query_range", params=params)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CapacityError(f"cannot query Prometheus at {url}: {exc!r}"[:300]) from None
    if response.status_code != 200 or body.get("status") != "success":
        raise CapacityError(
            f"Prometheus at {url} answered {response.status_code}: {body.get('error', '')}"[:300]
        )
    totals: dict[float, float] = {}
    for series in body.get("data", {}).get("result", []):
        for stamp, value in series.get("values", []):
            number = float(value)
            if math.isfinite(number):
                totals[float(stamp)] = totals.get(float(stamp), 0.0) + number
    if not totals:
        raise CapacityError(
            f"Prometheus has no data for {query} in the last {history_s / 86400:g} days"
        )
    points = [(datetime.fromtimestamp(stamp, UTC), value) for stamp, value in totals.items()]
    return regular(points, f"Prometheus ({query})")
