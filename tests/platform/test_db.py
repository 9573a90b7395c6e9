"""What counts as "the database is unavailable" (a 503 and a breaker failure)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

from surge.platform.db import database_unavailable


class AdaptedError(Exception):
    """As SQLAlchemy's asyncpg adapter raises: its own error, from asyncpg's."""


def adapted(cause: BaseException) -> DBAPIError:
    try:
        raise AdaptedError(str(cause)) from cause
    except AdaptedError as error:
        return DBAPIError("SELECT 1", {}, error)


def test_a_server_shutting_down_is_unavailable_through_the_adapter() -> None:
    shutting_down = asyncpg.CannotConnectNowError("the database system is shutting down")
    assert database_unavailable(adapted(shutting_down))


def test_a_wrong_query_is_not() -> None:
    assert not database_unavailable(adapted(asyncpg.UndefinedTableError("no such table")))
