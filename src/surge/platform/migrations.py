"""Alembic, run from code: `surge migrate`, migrate-on-start, and the readiness check."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.platform.db import ensure_sqlite_dir

# The PostgreSQL advisory lock that serializes migrations: b"surgemig" as a big-endian bigint.
MIGRATION_LOCK_KEY = 0x73757267656D6967


def _script_location() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_migrations", here.parents[3] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the Alembic migrations folder is missing from this installation")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it into a new one and dropping the old: with foreign
        # keys enforced, that drop would cascade into the rows that refer to it (every link of
        # a key). Off for the migration (before its transaction begins: only then does the
        # pragma apply), checked after it.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    command.upgrade(config, "head")
    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
        raise RuntimeError("the migration left rows whose foreign keys point nowhere")


@contextmanager
def _sqlite_file_lock(database_url: str) -> Iterator[None]:
    """Serialize migrations of one SQLite file across processes started together."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    ensure_sqlite_dir(database_url)
    with open(f"{url.database}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Upgrade to head; safe to run from several processes or replicas at once."""
    with _sqlite_file_lock(str(engine.url)):
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Held until this transaction ends (Alembic runs inside it): concurrent
                # migrators queue here, then find the schema current and do nothing.
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
            await conn.run_sync(_upgrade)
    if engine.dialect.name == "sqlite":
        # The migration's connection may still have foreign keys off (the pragma cannot change
        # inside its transaction): close the pool; new connections turn them on.
        await engine.dispose()


async def is_current(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revision)
    return current == head_revision()
