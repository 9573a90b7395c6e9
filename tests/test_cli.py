"""The `surge` command: one clear line on errors, no traceback, non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.processes import surge_cli, surge_env

# `surge` commands run in processes of their own, on the real clock.
pytestmark = pytest.mark.real_clock


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


def test_seed_fills_links_and_clicks_through_ingest(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    done = surge_cli(env, "seed", "--links", "3", "--clicks", "500", "--days", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seeded 3 links and 500 clicks in ")
    again = surge_cli(env, "seed", "--links", "2", "--clicks", "100", "--visitors", "5")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("seeded 2 links and 100 clicks in ")


def test_seed_refuses_bad_sizes_in_one_line(tmp_path: Path) -> None:
    for args in (["--links", "0", "--clicks", "1"], ["--links", "1", "--clicks", "-5"]):
        done = surge_cli(surge_env(tmp_path), "seed", *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("surge: error: --")
        assert len(done.stderr.strip().splitlines()) == 1


def test_maintain_expires_raw_clicks_past_the_retention(tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_CLICK_RETENTION_DAYS="5")
    seeded = surge_cli(env, "seed", "--links", "1", "--clicks", "300", "--days", "20")
    assert seeded.returncode == 0, seeded.stderr
    done = surge_cli(env, "maintain")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "partitions up to date"
    # 300 clicks evenly over 20 days: those of the 15 oldest days (225) go, give or take one.
    expired = int(lines[1].split()[1].replace(",", ""))
    assert 220 <= expired <= 230, lines[1]
    assert lines[1].endswith("older than 5 days (rollups kept)")
