"""ClickHouse for tests, two ways, so every query runs on an old server and a current engine:

- Debian's `clickhouse-server` (18.16), started once per session on a free port with a data
  directory of its own, over HTTP as Surge speaks to it in production;
- chdb, ClickHouse 26.x in-process, which catches SQL the old server takes and current ones
  refuse.

Each test gets a database of its own on either (dropped afterwards): the `clickhouse` fixture,
on both engines. Without the server binary or chdb these tests skip, saying so; with
SURGE_REQUIRE_SERVICES=1 they fail (tests/services.py).
"""

from __future__ import annotations

import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tools.chdb_clickhouse import ChdbClickHouse, chdb_session_in
from tools.clickhouse_server import SEARCH, server_argv

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.service import ClickService
from surge.platform.clickhouse import ClickHouse, HttpClickHouse
from surge.platform.db import SessionMaker, create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from tests.chaos.faults import ServerProcess, require_program, unavailable, wait_until
from tests.helpers import engine_on, make_settings


def new_database() -> str:
    return f"surge_t_{uuid.uuid4().hex[:12]}"


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=0.5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


class ClickHouseServer(ServerProcess):
    """A clickhouse-server of the tests' own, its data in `directory`: started once for the
    session's tests, or killed, started again and hung at will (the chaos suite's ClickHouse
    outage), its data kept across restarts.

    Killed, not terminated, in the chaos suite: a SIGTERM'd 18.16 refuses new connections but
    goes on answering on its open keep-alive ones (Surge's pooled connections) until it exits
    some 15 s later, which is no outage."""

    def __init__(self, directory: Path) -> None:
        super().__init__(require_program("clickhouse-server", search=SEARCH), directory)

    @property
    def url(self) -> str:
        """Its base URL (no database)."""
        return f"http://default@127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            server_argv(self.program, self.directory, self.port),
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: _answers(self.port), timeout_s=30, what=f"clickhouse-server on :{self.port}"
        )


@contextmanager
def running_clickhouse_server() -> Iterator[ClickHouseServer]:
    """A clickhouse-server of the tests' own, running; its process and data are gone after."""
    with tempfile.TemporaryDirectory(prefix="surge-clickhouse-") as directory:
        server = ClickHouseServer(Path(directory))
        try:
            server.start()
            yield server
        finally:
            server.close()


@contextmanager
def clickhouse_server() -> Iterator[str]:
    """A clickhouse-server of the tests' own; yields its base URL (no database)."""
    with running_clickhouse_server() as server:
        yield server.url


@contextmanager
def chdb_session() -> Iterator[Any]:
    try:
        import chdb.session  # noqa: F401 (present or the tests skip, saying so)
    except ImportError:
        unavailable("chdb is not installed (uv sync installs it with the dev dependencies)")
    with (
        tempfile.TemporaryDirectory(prefix="surge-chdb-") as directory,
        chdb_session_in(Path(directory)) as session,
    ):
        yield session


# --- fixtures (registered in tests/conftest.py, so every test directory has them) -------------

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
