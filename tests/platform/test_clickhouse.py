"""SURGE_CLICKHOUSE_URL read as its parts, and values written into ClickHouse SQL as literals
(the queries run on the server and chdb: tests/analytics/test_clickhouse_repository.py)."""

from __future__ import annotations

import pytest

from surge.platform.clickhouse import ClickHouseAddress, literal
from surge.platform.config import Settings


def test_the_url_names_the_server_the_database_and_the_user() -> None:
    address = ClickHouseAddress.parse("https://surge:p%40ss@ch.internal:8443/clicks")
    assert address == ClickHouseAddress("https://ch.internal:8443/", "clicks", "surge", "p@ss")
    bare = ClickHouseAddress.parse("http://[::1]:8123")
    assert (bare.base_url, bare.database, bare.user, bare.password) == (
        "http://[::1]:8123/",
        "default",
        "default",
        "",
    )


@pytest.mark.parametrize(
    "url", ["clickhouse://h:9000/db", "http:///db", "http://h:8123/no-dashes", "http://h/a;b"]
)
def test_a_url_it_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SURGE_CLICKHOUSE_URL"):
        ClickHouseAddress.parse(url)


def test_off_unless_set() -> None:
    assert Settings().clickhouse_url is None
    assert Settings(clickhouse_url=" ").clickhouse_url is None


def test_literals() -> None:
    assert literal(None) == "NULL"
    assert literal(True) == "1"
    assert literal(-7) == "-7"
    assert literal("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert literal([1, "a"]) == "(1, 'a')"
    with pytest.raises(TypeError):
        literal(1.5)
