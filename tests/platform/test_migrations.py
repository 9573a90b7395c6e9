"""Migrations on SQLite and on a real PostgreSQL: fresh upgrade, concurrent upgrades, round trip.

The PostgreSQL tests need a server at 127.0.0.1:5432 (user postgres, trust auth); each gets a
throwaway database (`pg_url`, tests/conftest.py). Without a server they are skipped, unless
SURGE_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.data.tables import POSTGRESQL_ONLY_INDEXES, links, metadata
from surge.links.repository import search_clause
from surge.platform.db import create_engine
from surge.platform.migrations import (
    _current_revision,
    alembic_config,
    head_revision,
    is_current,
    upgrade_to_head,
)
from tests.e2e.processes import surge_env
from tests.helpers import engine_on

# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of this test's own on either backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _downgrade_to_base(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, "base")


async def downgrade_to_base(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_to_base)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def versions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


def _not_a_partition(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    # Partitions of clicks are tables of their own that the metadata rightly knows nothing of.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not str(table).startswith("clicks_")


def _schema_diff(conn: Connection) -> list[Any]:
    def compared(obj: Any, name: str | None, type_: str, *rest: Any) -> bool:
        if name in POSTGRESQL_ONLY_INDEXES:  # not declared: the migration test checks them
            return False
        return _not_a_partition(obj, name, type_, *rest)

    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": compared}
    )
    return compare_metadata(context, metadata)


APP_TABLES = set(metadata.tables)


# --- tests -------------------------------------------------------------------------------------


async def test_upgrade_on_a_fresh_postgres_database(pg_url: str) -> None:
    async with engine_on(pg_url) as engine:
        assert not await is_current(engine)
        await upgrade_to_head(engine)
        assert await is_current(engine)
        assert APP_TABLES <= await table_names(engine)
        await upgrade_to_head(engine)  # a second run changes nothing
        assert await versions(engine) == [head_revision()]


async def test_concurrent_upgrades_on_postgres_take_turns(pg_url: str) -> None:
    engines = [create_engine(pg_url) for _ in range(4)]
    try:
        # Without the advisory lock, these race to create the same tables and fail or hang.
        await asyncio.wait_for(asyncio.gather(*(upgrade_to_head(e) for e in engines)), 60)
        assert await versions(engines[0]) == [head_revision()]
        assert all([await is_current(engine) for engine in engines])
    finally:
        for engine in engines:
            await engine.dispose()


async def test_downgrade_to_base_and_upgrade_again(any_url: str) -> None:
    async with engine_on(any_url) as engine:
        await upgrade_to_head(engine)
        await downgrade_to_base(engine)
        assert await table_names(engine) == {"alembic_version"}  # partitions went with clicks
        assert await versions(engine) == []
        assert not await is_current(engine)
        await upgrade_to_head(engine)
        assert await is_current(engine)
        assert APP_TABLES <= await table_names(engine)


async def test_the_migration_builds_what_the_tables_declare(any_url: str) -> None:
    async with engine_on(any_url) as engine:
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []


async def test_clicks_primary_key_is_id_and_occurred_at(any_url: str) -> None:
    async with engine_on(any_url) as engine:
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            pk = await conn.run_sync(lambda sync: inspect(sync).get_pk_constraint("clicks"))
        assert pk["constrained_columns"] == ["id", "occurred_at"]


async def test_surge_migrate_from_several_processes_at_once(pg_url: str, tmp_path: Path) -> None:
    """Replicas starting together: each runs `surge migrate`; all succeed, one migrates."""
    env = surge_env(tmp_path, SURGE_DATABASE_URL=pg_url)
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "surge.cli",
            "migrate",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(run.communicate() for run in runs)), 60)
    assert [run.returncode for run in runs] == [0] * 4, [err.decode() for _, err in outputs]
    async with engine_on(pg_url) as engine:
        assert await versions(engine) == [head_revision()]


def _upgrade_to(revision: str) -> Callable[[Connection], None]:
    def upgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)

    return upgrade


async def test_keys_and_links_from_before_users_move_to_one_admin(any_url: str) -> None:
    async with engine_on(any_url) as engine:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0004"))
            for key_id in (1, 2):
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, name, key_hash, key_prefix, is_admin, "
                        "created_at) VALUES (:id, 'k', :hash, 'sk_x', false, :now)"
                    ),
                    {"id": key_id, "hash": f"{key_id:064d}", "now": datetime.now(UTC)},
                )
                await conn.execute(
                    text(
                        "INSERT INTO links (slug, url, redirect_type, owner_id, created_at, "
                        "updated_at) VALUES (:slug, 'https://e.com', 302, :owner, :now, :now)"
                    ),
                    {"slug": f"s{key_id}", "owner": key_id, "now": datetime.now(UTC)},
                )
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            users = (await conn.execute(text("SELECT id, email, is_admin FROM users"))).all()
            assert [(u.email, bool(u.is_admin)) for u in users] == [("admin@localhost", True)]
            owners = (await conn.execute(text("SELECT DISTINCT user_id FROM api_keys"))).all()
            links = (await conn.execute(text("SELECT DISTINCT owner_id FROM links"))).all()
            assert owners == links == [(users[0].id,)]


async def test_search_moves_to_one_trigram_index_from_0006(any_url: str) -> None:
    async with engine_on(any_url) as engine:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0006"))
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                    "VALUES (1, NULL, NULL, false, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
            await conn.execute(
                text(
                    "INSERT INTO links (slug, url, redirect_type, owner_id, created_at, "
                    "updated_at) VALUES ('old', 'https://e.com/found', 302, 1, :now, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            names = {
                index["name"]
                for index in await conn.run_sync(lambda sync: inspect(sync).get_indexes("links"))
            }
            if conn.dialect.name == "postgresql":
                assert "ix_links_search_trgm" in names
                assert not {"ix_links_slug_trgm", "ix_links_url_trgm"} & names
                # Analyzed: without statistics of the expression, a common term looks rare.
                analyzed = await conn.execute(
                    text("SELECT 1 FROM pg_stats WHERE tablename = 'ix_links_search_trgm'")
                )
                assert analyzed.first() is not None
            else:
                assert not {n for n in names if n and n.endswith("_trgm")}
            found = await conn.execute(select(links.c.slug).where(search_clause("E.COM/FOUND")))
            assert found.scalars().all() == ["old"]


async def test_the_schema_check_agrees_with_alembic(any_url: str) -> None:
    """`is_current` reads the head from the migration files and the version table by SQL (no
    Alembic import at start-up): both answers are Alembic's own, before and after migrating."""
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()

    def alembic_current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine_on(any_url) as engine:
        for migrated in (False, True):
            async with engine.connect() as conn:
                ours = await conn.run_sync(_current_revision)
                assert ours == await conn.run_sync(alembic_current)
            assert ours == (head_revision() if migrated else None)
            assert await is_current(engine) is migrated
            await upgrade_to_head(engine)
