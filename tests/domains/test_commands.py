"""`surge domains`: add, list, set, remove; every refusal one line with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.processes import surge_cli, surge_env

pytestmark = pytest.mark.real_clock  # `surge` commands run in processes of their own


def test_domains_from_the_command_line(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    assert surge_cli(env, "migrate").returncode == 0
    added = surge_cli(env, "domains", "add", "Go.Example.com:443", "--root-url", "https://e.com/")
    assert added.returncode == 0, added.stderr
    assert added.stdout.split()[:2] == ["go.example.com", "https://e.com/"]
    for args, words in [
        (("add", "go.example.com"), "already"),
        (("add", "bad_host"), "not a domain name"),
        (("set", "go.example.com", "--not-found-url", "ftp://x"), "--not-found-url: only http"),
        (("remove", "127.0.0.1"), "default domain"),
    ]:
        refused = surge_cli(env, "domains", *args)
        assert refused.returncode == 2, args
        assert words in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    changed = surge_cli(env, "domains", "set", "go.example.com", "--expired-url", "https://e.com/x")
    assert changed.stdout.split()[1:] == ["-", "-", "https://e.com/x"]  # the others cleared
    listed = surge_cli(env, "domains", "list").stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["127.0.0.1", "go.example.com"]
    assert surge_cli(env, "domains", "remove", "go.example.com").returncode == 0
    assert len(surge_cli(env, "domains", "list").stdout.splitlines()) == 2
