"""ClickHouse 26.x in-process: Surge's ClickHouse protocol (surge.platform.clickhouse) over a
chdb session. The tests' `clickhouse` fixture runs every store query on it beside the 18.16
server (tests/clickhouse.py), and `bench/clickhouse.py --engine chdb` times the store's stats on
it. Here rather than in tests/ because the bench must not import the test suite (pytest and its
fixtures); not in src/surge because chdb is a dev dependency, never a production path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from surge.platform.clickhouse import ClickHouseError, json_each_row


class ChdbClickHouse:
    """The ClickHouse protocol over chdb's one in-process session (chdb allows one at a time,
    so its users share it, a database each). Statements run synchronously: no HTTP, no
    event-loop hand-off, only the engine and the JSON parse."""

    def __init__(self, session: Any, database: str) -> None:
        self.session = session
        self.database = database

    def _query(self, sql: str, output: str = "JSONCompact") -> bytes:
        try:
            return bytes(self.session.query(sql, output).bytes())
        except Exception as exc:  # chdb raises its own error type for a refused statement
            raise ClickHouseError(str(exc)) from exc

    async def rows(self, sql: str) -> list[list[Any]]:
        found: list[list[Any]] = orjson.loads(self._query(sql))["data"]
        return found

    async def execute(self, sql: str) -> None:
        self._query(sql, "TabSeparated")

    async def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            body = json_each_row(rows).decode()
            self._query(f"INSERT INTO {table} FORMAT JSONEachRow\n{body}", "TabSeparated")


@contextmanager
def chdb_session_in(directory: Path) -> Iterator[Any]:
    """chdb's session with its data in `directory` (the caller removes it); ImportError
    without chdb (uv sync installs it with the dev dependencies)."""
    from chdb.session import Session

    session = Session(str(directory))
    try:
        yield session
    finally:
        session.close()
