"""ClickHouse for the click store's tests: a real server (once per session) and chdb, each
test a database of its own on both (tests/clickhouse.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.service import ClickService
from surge.platform.clickhouse import ClickHouse, HttpClickHouse
from surge.platform.db import SessionMaker, create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from tests.clickhouse import ChdbClickHouse, chdb_session, clickhouse_server, new_database
from tests.helpers import engine_on, make_settings

ENGINES = ["server", "chdb"]  # Debian's clickhouse-server (18.16), and ClickHouse 26.x in-process


@pytest.fixture(scope="session")
def clickhouse_server_url() -> Iterator[str]:
    with clickhouse_server() as url:
        yield url


@pytest.fixture(scope="session")
def chdb() -> Iterator[Any]:
    with chdb_session() as session:
        yield session


@pytest.fixture(params=ENGINES)
async def clickhouse(request: pytest.FixtureRequest) -> AsyncIterator[ClickHouse]:
    """An empty click store in a database of its own, on the server or on chdb."""
    found: ClickHouse
    if request.param == "chdb":
        found = ChdbClickHouse(request.getfixturevalue("chdb"), new_database())
    else:
        url = request.getfixturevalue("clickhouse_server_url")
        found = HttpClickHouse(f"{url}/{new_database()}")
    await ensure_schema(found)
    try:
        yield found
    finally:
        await found.execute(f"DROP DATABASE IF EXISTS {found.database}")
        if isinstance(found, HttpClickHouse):
            await found.aclose()


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[SessionMaker]:
    """An embedded database, migrated and empty: where links and webhooks live beside
    ClickHouse, and the SQL store the parity tests compare with."""
    async with engine_on(make_settings(tmp_path).database_url) as engine:
        await upgrade_to_head(engine)
        yield create_sessionmaker(engine)


@pytest.fixture
async def clickhouse_clicks(tmp_path: Path, clickhouse: ClickHouse) -> AsyncIterator[ClickService]:
    """The click service with its clicks in ClickHouse, beside a SQL database without tables:
    neither ingest nor stats of clicks may touch it (orphan visits and webhooks would)."""
    async with engine_on(make_settings(tmp_path).database_url) as engine:
        yield ClickService(create_sessionmaker(engine), clickhouse=ClickHouseClicks(clickhouse))
