"""Traffic history from a CSV, from Surge's own hourly rollups, and from Prometheus."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.service import ClickService
from surge.capacity.errors import CapacityError
from surge.capacity.history import (
    DEFAULT_QUERY,
    History,
    read_clickhouse,
    read_csv,
    read_database,
    read_prometheus,
)
from surge.data.events import ClickEvent
from surge.platform.clickhouse import HttpClickHouse
from surge.platform.config import Settings
from surge.platform.db import SessionMaker
from tests.clickhouse import new_database
from tests.helpers import GOOGLEBOT, event

START = datetime(2026, 3, 2, tzinfo=UTC)


def write(path: Path, header: str, rows: list[tuple[str, float]]) -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def test_csv_of_rates_at_hourly_steps(tmp_path: Path) -> None:
    rows = [((START + timedelta(hours=h)).isoformat(), 100.0 + h) for h in range(48)]

    history = read_csv(write(tmp_path / "h.csv", "timestamp,rps", rows))

    assert history.step_s == 3600
    assert history.start == START
    assert history.rps == tuple(100.0 + h for h in range(48))


def test_csv_of_counts_per_five_minutes_becomes_hourly_rates(tmp_path: Path) -> None:
    # 600 requests each 5 minutes is 2 req/s; naive timestamps and Unix seconds are UTC.
    rows = [(str((START + timedelta(minutes=5 * i)).timestamp()), 600.0) for i in range(12 * 30)]
    rows[0] = ((START.replace(tzinfo=None)).isoformat(), 600.0)

    history = read_csv(write(tmp_path / "h.csv", "Timestamp,Requests", rows))

    assert history.step_s == 3600
    assert len(history.rps) == 30
    assert history.rps == pytest.approx([2.0] * 30)


def test_csv_gaps_are_interpolated_and_counted(tmp_path: Path) -> None:
    rows = [
        ((START + timedelta(hours=h)).isoformat(), float(h)) for h in range(30) if h not in (5, 6)
    ]

    history = read_csv(write(tmp_path / "h.csv", "timestamp,rps", rows))

    assert history.interpolated == 2
    assert history.rps[5:7] == pytest.approx([5.0, 6.0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("when,rate\n2026-01-01T00:00:00Z,1\n", "must start with a header line"),
        ("timestamp,rps\n2026-01-01T00:00:00Z,1\n", "has 1 point: a forecast needs at least 24"),
        ("timestamp,rps\n2026-01-01T00:00:00Z,-3\n", "line 2: '-3' is not a count"),
        ("timestamp,rps\nyesterday,3\n", "line 2: cannot read the timestamp 'yesterday'"),
        ("timestamp,rps\n2026-01-01T00:00:00Z,many\n", "line 2: 'many' is not a number"),
    ],
)
def test_bad_csvs_are_refused_naming_the_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content)

    with pytest.raises(CapacityError, match=message):
        read_csv(path)


def test_missing_csv_is_named(tmp_path: Path) -> None:
    with pytest.raises(CapacityError, match="no such file"):
        read_csv(tmp_path / "nope.csv")


def hours_of_clicks(now: datetime) -> tuple[list[ClickEvent], datetime]:
    """30 hours of clicks (one without), bots among them, and clicks that must not count;
    the first hour."""
    end = now.replace(minute=0, second=0, microsecond=0)
    first = end - timedelta(hours=40)
    batch = [
        event(1 + i % 3, visitor=f"v{h}-{i}", at=first + timedelta(hours=h, minutes=i))
        for h in range(30)
        if h != 12  # an hour without clicks is an hour of 0 req/s, not a gap
        for i in range(9)
    ]
    # Bots load the redirect too; clicks of the hour still filling and of long ago do not count.
    batch += [
        event(2, ua=GOOGLEBOT, visitor=f"b{h}", at=first + timedelta(hours=h)) for h in range(30)
    ]
    batch += [event(1, visitor="now", at=end + timedelta(seconds=1))] if now > end else []
    batch += [event(1, visitor="old", at=end - timedelta(days=5))]
    return batch, first


def assert_hourly_traffic(history: History, first: datetime) -> None:
    assert history.start == first
    assert history.step_s == 3600
    assert len(history.rps) == 40  # to the last complete hour
    expected = [0.0 if h == 12 else 10 / 3600 for h in range(30)]
    expected[12] = 1 / 3600  # the bot's click
    assert history.rps[:30] == pytest.approx(expected)
    assert history.rps[30:] == (0.0,) * 10


@pytest.mark.calendar
async def test_rollups_become_hourly_traffic(
    settings: Settings, clicks: ClickService, now: datetime
) -> None:
    batch, first = hours_of_clicks(now)
    await clicks.ingest(batch)
    assert_hourly_traffic(await read_database(settings.database_url, 3 * 86400, now), first)


async def test_clicks_in_clickhouse_become_the_same_hourly_traffic(
    sqlite_sessions: SessionMaker, clickhouse_server_url: str, now: datetime
) -> None:
    url = f"{clickhouse_server_url}/{new_database()}"
    clickhouse = HttpClickHouse(url)
    try:
        await ensure_schema(clickhouse)
        clicks = ClickService(sqlite_sessions, clickhouse=ClickHouseClicks(clickhouse))
        batch, first = hours_of_clicks(now)
        await clicks.ingest(batch)
        assert_hourly_traffic(await read_clickhouse(url, 3 * 86400, now), first)
    finally:
        await clickhouse.execute(f"DROP DATABASE IF EXISTS {clickhouse.database}")
        await clickhouse.aclose()


async def test_no_rollups_is_a_clear_error(
    settings: Settings, clicks: ClickService, now: datetime
) -> None:
    with pytest.raises(CapacityError, match="no clicks in the database's rollups"):
        await read_database(settings.database_url, 86400, now)


def prometheus(answer: dict[str, object], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query_range"
        assert request.url.params["step"] == "3600"
        return httpx.Response(status, json={**answer, "query": request.url.params["query"]})

    return httpx.MockTransport(handle)


def test_prometheus_series_are_summed_hour_by_hour() -> None:
    stamps = [START.timestamp() + 3600 * h for h in range(30)]
    result = [
        {"metric": {"instance": name}, "values": [[t, str(v)] for t in stamps]}
        for name, v in (("a", 1.5), ("b", 2.0))
    ]
    answer = {"status": "success", "data": {"resultType": "matrix", "result": result}}

    history = read_prometheus(
        "http://prom", None, 2 * 86400, START + timedelta(days=2), prometheus(answer)
    )

    assert history.rps == pytest.approx([3.5] * 30)
    assert DEFAULT_QUERY in history.source


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        ({"status": "error", "error": "parse error at char 3"}, 400, "answered 400: parse error"),
        ({"status": "success", "data": {"result": []}}, 200, "has no data for"),
    ],
)
def test_prometheus_errors_are_one_line(
    answer: dict[str, object], status: int, message: str
) -> None:
    with pytest.raises(CapacityError, match=message):
        read_prometheus("http://prom", "up", 86400, START, prometheus(answer, status))


def test_unreachable_prometheus_is_named() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(CapacityError, match="cannot query Prometheus at http://prom"):
        read_prometheus("http://prom", "up", 86400, START, httpx.MockTransport(refuse))


def test_query_is_sent_as_given() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["query"])
        return httpx.Response(
            200, content=json.dumps({"status": "success", "data": {"result": []}})
        )

    with pytest.raises(CapacityError):
        read_prometheus(
            "http://prom", "sum(rate(x[1h]))", 86400, START, httpx.MockTransport(handle)
        )
    assert seen == ["sum(rate(x[1h]))"]
