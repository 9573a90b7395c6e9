"""The `surge` command: one clear line on errors, no traceback, non-zero exit."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.processes import surge_cli, surge_env


def test_migrate_then_create_key(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    migrated = surge_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    created = surge_cli(env, "keys", "create", "--name", "ci")
    assert created.returncode == 0
    assert created.stdout.startswith("sk_")
    assert len(created.stdout.strip()) > 40


def test_bad_setting_is_one_line_and_exit_code(tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_PUBLIC_URL="ftp://nope")
    done = surge_cli(env, "migrate")
    assert done.returncode == 2
    assert done.stderr.startswith("surge: error: SURGE_PUBLIC_URL")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    done = surge_cli(env, "migrate")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_empty_key_name_is_refused(tmp_path: Path) -> None:
    done = surge_cli(surge_env(tmp_path), "keys", "create", "--name", "  ")
    assert done.returncode == 2
    assert "--name" in done.stderr
