"""ClickHouse over its HTTP interface, with the httpx client Surge already has.

`SURGE_CLICKHOUSE_URL` is `http(s)://user:password@host:port/database`. Statements go as POST
bodies, results come back as JSONCompact and rows go in as JSONEachRow (orjson both ways).
The SQL is written for ClickHouse 18.16 and current releases alike, which rules out query
parameters (`{name:Type}`, 19.x): values are inlined through `literal`, never formatted in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from surge.platform.metrics import CLICKHOUSE_ERRORS, CLICKHOUSE_SECONDS

# Integers as JSON numbers, not strings (64-bit ones are quoted by default).
SETTINGS = {"output_format_json_quote_64bit_integers": "0"}


class ClickHouseError(Exception):
    """The server refused a statement, or could not be reached."""


class ClickHouseUnavailable(ClickHouseError):
    """The server could not be reached, or did not answer in time: try again later."""


class ClickHouse(Protocol):
    """What the click store needs of ClickHouse: a server over HTTP, or chdb in the tests."""

    database: str

    async def rows(self, sql: str) -> list[list[Any]]:
        """The rows a SELECT answers."""
        ...

    async def execute(self, sql: str) -> None:
        """A statement that answers nothing (DDL, ALTER)."""
        ...

    async def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Rows into `table` (qualified: `database.name`) in one INSERT."""
        ...


def literal(value: Any) -> str:
    """A Python value as a ClickHouse SQL literal: numbers, strings, None and sequences."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Iterable):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    raise TypeError(f"no ClickHouse literal for {type(value).__name__}")


def json_each_row(rows: Sequence[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(row) for row in rows)


@dataclass(frozen=True, slots=True)
class ClickHouseAddress:
    base_url: str
    database: str
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> ClickHouseAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("SURGE_CLICKHOUSE_URL must be an http(s):// URL")
        database = parts.path.strip("/") or "default"
        if not database.replace("_", "").isalnum():
            raise ValueError("SURGE_CLICKHOUSE_URL's database name must be letters, digits, _")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = f":{parts.port}" if parts.port else ""
        return cls(
            base_url=f"{parts.scheme}://{host}{port}/",
            database=database,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
        )


class HttpClickHouse:
    """A ClickHouse server: one pooled httpx client, made in the lifespan, closed with it."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        address = ClickHouseAddress.parse(url)
        self.database = address.database
        self.client = httpx.AsyncClient(
            base_url=address.base_url,
            timeout=timeout_s,
            # Headers rather than URL parameters: a password must not reach an access log.
            headers={"X-ClickHouse-User": address.user, "X-ClickHouse-Key": address.password},
        )

    async def _post(self, operation: str, body: bytes, query: str | None = None) -> bytes:
        params = dict(SETTINGS)  # no database: statements name theirs (CREATE DATABASE too)
        if query is not None:
            params["query"] = query
        started = time.perf_counter()
        try:
            answer = await self.client.post("", params=params, content=body)
        except httpx.HTTPError as exc:
            CLICKHOUSE_ERRORS.labels(operation).inc()
            raise ClickHouseUnavailable(f"ClickHouse unreachable: {exc!r}") from exc
        CLICKHOUSE_SECONDS.labels(operation).observe(time.perf_counter() - started)
        if answer.status_code != 200:
            CLICKHOUSE_ERRORS.labels(operation).inc()
            raise ClickHouseError(answer.text.strip()[:2000])
        return answer.content

    async def rows(self, sql: str) -> list[list[Any]]:
        found: list[list[Any]] = orjson.loads(
            await self._post("select", f"{sql} FORMAT JSONCompact".encode())
        )["data"]
        return found

    async def execute(self, sql: str) -> None:
        await self._post("command", sql.encode())

    async def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            statement = f"INSERT INTO {table} FORMAT JSONEachRow"
            await self._post("insert", json_each_row(rows), statement)

    async def aclose(self) -> None:
        await self.client.aclose()
