"""Settings read from the environment: the read replicas' URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from surge.platform.config import Settings

PRIMARY = "postgresql+asyncpg://surge@pg-primary/surge"
ONE = "postgresql+asyncpg://surge:p%2Cw@pg-replica-1/surge"
TWO = "postgresql+asyncpg://surge@pg-replica-2/surge"


def test_no_replica_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURGE_DATABASE_REPLICA_URLS", raising=False)
    assert Settings(database_url=PRIMARY).database_replica_urls == []


@pytest.mark.parametrize("value", [f" {ONE}, {TWO} ,", f'["{ONE}", "{TWO}"]'])
def test_replica_urls_comma_separated_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SURGE_DATABASE_REPLICA_URLS", value)
    assert Settings(database_url=PRIMARY).database_replica_urls == [ONE, TWO]


def test_replica_urls_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "replicas"
    secret.write_text(f"{ONE},{TWO}\n")
    monkeypatch.setenv("SURGE_DATABASE_REPLICA_URLS_FILE", str(secret))
    assert Settings(database_url=PRIMARY).database_replica_urls == [ONE, TWO]


@pytest.mark.parametrize(
    ("primary", "replica"),
    [("sqlite+aiosqlite:///./data/surge.db", ONE), (PRIMARY, "sqlite+aiosqlite:///r.db")],
)
def test_replicas_are_postgresql_of_postgresql(
    monkeypatch: pytest.MonkeyPatch, primary: str, replica: str
) -> None:
    monkeypatch.setenv("SURGE_DATABASE_REPLICA_URLS", replica)
    with pytest.raises(ValidationError, match="PostgreSQL replicas of a PostgreSQL"):
        Settings(database_url=primary)
