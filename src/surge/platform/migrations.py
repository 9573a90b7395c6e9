"""Alembic, run from code: `surge migrate`, migrate-on-start, and the readiness check.

Alembic is imported only to migrate. Importing it (with the Mako and Pygments it brings) cost
every `surge` process about half a second of start-up (`python -X importtime -m surge.cli
domains list`), and nearly every process only asks whether the schema is current: that answer
is read here from the version table and the migration files themselves, and
tests/platform/test_migrations.py checks it against Alembic's own.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.platform.db import ensure_sqlite_dir

if TYPE_CHECKING:
    from alembic.config import Config

# The PostgreSQL advisory lock that serializes migrations: b"surgemig" as a big-endian bigint.
MIGRATION_LOCK_KEY = 0x73757267656D6967


def _script_location() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_migrations", here.parents[3] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the Alembic migrations folder is missing from this installation")


# A migration file's own revision: `revision: str = "0014"`.
_REVISION = re.compile(r'^revision(?:: *str)? *= *"([^"]+)"', re.MULTILINE)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    return config


def head_revision() -> str | None:
    """The newest migration's revision: the files are numbered in the order they apply
    (0001_..., 0002_...), one line of history, so the head is the last file's."""
    files = sorted((_script_location() / "versions").glob("[0-9]*.py"))
    if not files:
        return None
    found = _REVISION.search(files[-1].read_text())
    if found is None:
        raise RuntimeError(f"{files[-1].name} names no revision")
    return found.group(1)


def _current_revision(conn: Connection) -> str | None:
    """The revision Alembic recorded in its version table, None before the first migration."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def _upgrade(conn: Connection) -> None:
    from alembic import command

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
    if await is_current(engine):
        return  # the usual start: nothing to do, and no Alembic to import
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
