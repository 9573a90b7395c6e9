"""Async SQLAlchemy engine and sessions. Engines are created in a service's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from surge.platform.breakers import Breaker


class SessionMaker(Protocol):
    """What services open sessions with: a sessionmaker, or one behind the database breaker."""

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]: ...


# What "the database is unavailable" looks like from here (a 503 and a breaker failure, where
# any other error is the request's own problem): the server refused, went away or did not
# answer in time; SQLite's lock not granted within busy_timeout.
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)
_UNAVAILABLE_NAMES = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
        "InterfaceError",
        "QueryCanceledError",
    }
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot serve now (not that the request was wrong)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        inner = exc.orig
        if isinstance(exc, OperationalError) and "locked" in str(inner):
            return True
        # SQLAlchemy's asyncpg adapter raises its own `Error` from asyncpg's (a server shutting
        # down: CannotConnectNowError): the cause says what happened.
        return inner is not None and (_unavailable(inner) or _unavailable(inner.__cause__))
    return _unavailable(exc)


def _unavailable(error: BaseException | None) -> bool:
    return isinstance(error, _UNAVAILABLE_ERRORS) or type(error).__name__ in _UNAVAILABLE_NAMES


class GuardedSessions:
    """Sessions that pass the database breaker: while it is open, opening one fails at once
    (BreakerOpen) instead of waiting for a connection that will not come."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], breaker: Breaker) -> None:
        self.maker = maker
        self.breaker = breaker

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self.breaker.guard(), self.maker() as session:
            yield session


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the folder of a file-backed SQLite database so a fresh clone just works."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    database_url: str, *, pool_size: int = 5, timeout_s: float | None = None
) -> AsyncEngine:
    """`timeout_s` bounds connecting and each statement (PostgreSQL): a hung server costs a
    request that long, not forever."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        connect_args = (
            {} if timeout_s is None else {"timeout": timeout_s, "command_timeout": timeout_s}
        )
        return create_async_engine(
            url,
            pool_size=pool_size,
            pool_pre_ping=True,
            pool_timeout=timeout_s if timeout_s is not None else 30,
            connect_args=connect_args,
        )
    ensure_sqlite_dir(database_url)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers and one writer (api, analytics, several processes) share the file;
        # busy_timeout turns lock contention into waiting instead of "database is locked".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: SessionMaker) -> AsyncIterator[AsyncSession]:
    """The one place that commits: a unit of work that commits on success, rolls back on error.

    On SQLite it takes the write lock at its start (BEGIN IMMEDIATE), waiting its turn under
    busy_timeout: a transaction that read first and wrote later would fail at once with
    "database is locked" whenever another writer committed in between (WAL cannot upgrade a
    read snapshot that is no longer the newest)."""
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "sqlite":
            connection = await session.connection()
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def dialect_insert(session: AsyncSession, table: Table) -> SqliteInsert | PgInsert:
    """An INSERT that knows ON CONFLICT on both SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)
