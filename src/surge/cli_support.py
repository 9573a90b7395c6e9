"""What the `surge` command's modules share. Apart from `surge.cli` because under
`python -m surge.cli` that module is `__main__`: a second import of it would make a second
CliError that main() does not catch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from surge.platform.config import Settings

if TYPE_CHECKING:  # a redirect process starts through this module and loads no SQLAlchemy
    from surge.platform.db import SessionMaker


class CliError(Exception):
    """An error the user can fix; printed as one line."""


@asynccontextmanager
async def current_sessions(settings: Settings) -> AsyncIterator[SessionMaker]:
    """Sessions on a database whose schema is current: migrated here where Surge migrates on
    start (SQLite), refused with a clear line elsewhere."""
    from surge.platform.db import create_engine, create_sessionmaker
    from surge.platform.migrations import is_current, upgrade_to_head

    engine = create_engine(settings.database_url)
    try:
        if not await is_current(engine):
            if not settings.migrates_on_start:
                raise CliError("the database schema is not current: run `surge migrate` first")
            await upgrade_to_head(engine)
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
