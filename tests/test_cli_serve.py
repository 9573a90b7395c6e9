"""`surge serve` refuses, in one line, to run exposed with published default secrets or on a
database that is not migrated; secrets may come from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.platform.config import Settings
from tests.e2e.processes import surge_cli, surge_env

# `surge` commands run in processes of their own, on the real clock.
pytestmark = pytest.mark.real_clock


def one_line_error(done: object) -> str:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 2, stderr  # type: ignore[attr-defined]
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    return stderr


def test_default_secrets_are_refused_on_postgresql(tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    del env["SURGE_VISITOR_SALT_SECRET"]
    stderr = one_line_error(surge_cli(env, "serve", "--service", "api", "--port", "1"))
    assert "SURGE_VISITOR_SALT_SECRET" in stderr
    assert "SURGE_INTERNAL_TOKEN" not in stderr  # that one is set


def test_default_secrets_are_refused_on_a_public_bind(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    del env["SURGE_INTERNAL_TOKEN"]
    stderr = one_line_error(surge_cli(env, "serve", "--host", "0.0.0.0", "--port", "1"))
    assert "SURGE_INTERNAL_TOKEN" in stderr
    assert "--host 0.0.0.0" in stderr


def test_a_database_not_migrated_is_named_with_the_fix(tmp_path: Path, pg_url: str) -> None:
    stderr = one_line_error(
        surge_cli(surge_env(tmp_path, SURGE_DATABASE_URL=pg_url), "serve", "--service", "api")
    )
    assert "run `surge migrate`" in stderr


def test_secrets_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, salt = tmp_path / "token", tmp_path / "salt"
    token.write_text("a-token-from-a-file\n")
    salt.write_text("a-salt-from-a-file")
    monkeypatch.setenv("SURGE_INTERNAL_TOKEN_FILE", str(token))
    monkeypatch.setenv("SURGE_VISITOR_SALT_SECRET_FILE", str(salt))
    settings = Settings()
    assert settings.internal_token == "a-token-from-a-file"
    assert settings.visitor_salt_secret == "a-salt-from-a-file"
    assert settings.default_secrets() == []
    monkeypatch.setenv("SURGE_INTERNAL_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="SURGE_INTERNAL_TOKEN_FILE"):
        Settings()


def test_an_unreadable_secret_file_is_named_in_one_line(tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_INTERNAL_TOKEN_FILE=str(tmp_path / "missing"))
    stderr = one_line_error(surge_cli(env, "migrate"))
    assert f"SURGE_INTERNAL_TOKEN_FILE: No such file or directory: {tmp_path}/missing" in stderr


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    assert surge_cli(env, "migrate").returncode == 0
    secret = surge_cli(env, "keys", "create", "--name", "deploy-bot").stdout.strip()
    listed = surge_cli(env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.endswith("deploy-bot")]
    assert secret[:8] in row
    assert secret not in listed.stdout
    key_id = row.split()[0]
    revoked = surge_cli(env, "keys", "revoke", key_id)
    assert revoked.returncode == 0
    assert revoked.stdout.strip() == f"revoked key {key_id}"
    again = surge_cli(env, "keys", "revoke", key_id)
    assert one_line_error(again).startswith(f"surge: error: no live key with id {key_id}")
