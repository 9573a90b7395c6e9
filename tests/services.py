"""Real PostgreSQL and Redis for tests: throwaway databases and key prefixes, cleaned up after.

Without the servers these tests skip, saying how to enable them; with SURGE_REQUIRE_SERVICES=1
(as `.ci/run` sets) they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.leftovers import database_prefix

PG_HOST, PG_PORT = os.environ.get("SURGE_TEST_PG_HOST", "127.0.0.1"), 5432
REDIS_URL = os.environ.get("SURGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOW = (
    "run PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and Redis on 127.0.0.1:6379 "
    "(or point SURGE_TEST_PG_HOST / SURGE_TEST_REDIS_URL at yours) to run the "
    "production-backend tests"
)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if _listening(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}: {HOW}"
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def require_postgres() -> None:
    require("PostgreSQL", PG_HOST, PG_PORT)


def redis_address(url: str) -> tuple[str, int]:
    """The host and port a redis:// URL points at (with redis-py's defaults)."""
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or 6379


def require_redis() -> None:
    """The Redis the tests use (SURGE_TEST_REDIS_URL) answers, or skip (or fail, in CI)."""
    require("Redis", *redis_address(REDIS_URL))


async def create_database() -> str:
    """A fresh PostgreSQL database; returns its SQLAlchemy URL. Drop it with `drop_database`."""
    require_postgres()
    name = f"{database_prefix()}{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test; yields its URL and drops it afterwards."""
    url = await create_database()
    try:
        yield url
    finally:
        await drop_database(url)


@contextmanager
def database_for_processes() -> Iterator[str]:
    """A fresh PostgreSQL database for tests that drive real processes (no event loop of
    their own); yields its URL and drops it afterwards. Skips (or fails) without PostgreSQL."""
    require_postgres()
    url = asyncio.run(create_database())
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def truncate_all(database_url: str) -> None:
    """Empty every Surge table: far cheaper than a new database per test (and, on tables this
    small, DELETE is cheaper than TRUNCATE)."""
    from surge.data.tables import metadata
    from surge.platform.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


@asynccontextmanager
async def throwaway_redis_prefix() -> AsyncIterator[str]:
    """A key prefix of our own in the shared Redis; its keys are deleted afterwards."""
    require_redis()
    prefix = f"surge-t-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def databases_left() -> list[str]:
    """This run's test databases that still exist (none, once every test cleaned up); they are
    dropped. Empty when PostgreSQL is not there to ask."""
    if not _listening(PG_HOST, PG_PORT):
        return []
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        rows = await admin.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", database_prefix()
        )
        names = sorted(row["datname"] for row in rows)
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    return names
