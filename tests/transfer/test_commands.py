"""`surge import` and `surge export` as a user runs them: the summary, the exit code, one line
on stderr for a mistake, and the export read back by the import."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.processes import surge_cli, surge_env

# `surge` commands run in processes of their own, on the real clock.
pytestmark = pytest.mark.real_clock

YOURLS = (
    "INSERT INTO `yourls_url` VALUES ('ozh','https://ozh.org/','ozh.org','2023-05-06 07:08:09',"
    "'127.0.0.1',17),('bad','ftp://nope','x','2023-05-06 07:08:09','127.0.0.1',1);\n"
)


def test_import_then_export_from_the_command_line(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    dump = tmp_path / "yourls.sql"
    dump.write_text(YOURLS)

    nobody = surge_cli(env, "import", "--format", "yourls", str(dump))
    assert nobody.returncode == 2
    assert nobody.stderr.startswith("surge: error: no admin user")
    assert len(nobody.stderr.strip().splitlines()) == 1

    made = surge_cli(env, "users", "create", "--email", "ops@example.com", "--admin")
    assert made.returncode == 0, made.stderr
    done = surge_cli(env, "import", "--format", "yourls", str(dump))
    assert done.returncode == 1  # a row was rejected: scripts notice
    assert done.stdout.splitlines() == [
        "imported 1 of 2 links, owned by ops@example.com (no --owner: the first admin)",
        "skipped 0 already present",
        "rejected 1:",
        "  line 1, row 2: url: only http(s) URLs with a domain name, without user:password@, "
        "whitespace or control characters, can be shortened (got 'ftp://nope')",
    ]

    exported = surge_cli(env, "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[1].startswith("ozh,https://ozh.org/,302,,,,2023-05-06")
    out = tmp_path / "links.json"
    to_file = surge_cli(env, "export", "--format", "json", "--output", str(out))
    assert to_file.returncode == 0
    assert '"slug": "ozh"' in out.read_text()

    again = surge_cli(env, "import", "--format", "csv", "-", input=exported.stdout)
    assert again.returncode == 0, again.stdout
    assert again.stdout.splitlines()[:2] == [
        "imported 0 of 1 links, owned by ops@example.com (no --owner: the first admin)",
        "skipped 1 already present",
    ]


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    for args, message in [
        (("import", "--format", "csv", str(tmp_path / "none.csv")), "No such file"),
        (("import", "--format", "csv", "-", "--encoding", "klingon"), "--encoding"),
        (("import", "--format", "csv", "-", "--owner", "x@example.com"), "--owner: no user"),
        (("export", "--owner", "not-an-email"), "--owner"),
    ]:
        done = surge_cli(env, *args, input="")
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr
