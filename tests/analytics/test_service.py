"""The stats answer's series, joined from cached point heads, is what orjson makes of it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from surge.analytics.service import _series, series_json
from surge.data.contracts import Interval


@pytest.mark.parametrize("interval", ["hour", "day"])
@pytest.mark.parametrize(
    "end",
    [datetime(2026, 3, 31, 23, 0, tzinfo=UTC), datetime(2026, 3, 31, 23, 59, 1, 5, tzinfo=UTC)],
)
def test_the_series_json_is_the_series_as_orjson_writes_it(
    interval: Interval, end: datetime
) -> None:
    rng = random.Random(5)
    start = end - timedelta(days=90, minutes=17)
    step = 3600 if interval == "hour" else 86400
    first = int(start.timestamp()) // step * step
    counts = {first + i * step: rng.randint(1, 10**9) for i in range(0, 2200, 3)}
    for _ in range(2):  # the heads made, then the heads cached
        assert orjson.dumps({"t": series_json(counts, start, end, interval)}) == orjson.dumps(
            {"t": _series(counts, start, end, interval)}
        )
