"""`surge webhooks`: create (the secret once), list, deliveries, enable, delete; every refusal
one line with a non-zero exit. In this process (`surge.cli.main`), on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.cli import main

pytestmark = pytest.mark.real_clock  # asyncio.run inside: no pinned clock across its loop


def surge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_webhooks_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SURGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}")
    monkeypatch.setenv("SURGE_BOOTSTRAP_ADMIN_KEY", "false")
    monkeypatch.setenv("SURGE_LOG_LEVEL", "warning")
    assert surge(capsys, "users", "create", "--email", "ann@example.com")[0] == 0
    code, out, err = surge(
        capsys, "webhooks", "create", "https://hooks.example.com/in", "--user", "ann@example.com",
        "--events", "link.created,link.clicked",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("created webhook 1 for https://hooks.example.com/in")
    assert "secret (shown once): whsec_" in out
    code, out, _ = surge(capsys, "webhooks", "list")
    assert out.splitlines()[1].split()[:5] == ["1", "user", "1", "0", "0"]
    assert "whsec_" not in out
    assert "[link.clicked,link.created]  enabled" in out
    assert surge(capsys, "webhooks", "deliveries", "1")[1].strip() == "no delivery attempts yet"
    assert "enabled" in surge(capsys, "webhooks", "enable", "1")[1]
    for args, words in [
        (("create", "http://127.0.0.1/", "--user", "ann@example.com"), "internal address"),
        (("create", "https://a.example/", "--user", "bob@example.com"), "no user"),
        (("create", "https://a.example/", "--user", "ann@example.com", "--events", "x"), "events"),
        (("create", "https://a.example/", "--user", "ann@example.com", "--link", "no"), "link"),
        (("delete", "7"), "No such webhook"),
    ]:
        code, _, err = surge(capsys, "webhooks", *args)
        assert code == 2, args
        assert words in err, err
        assert len(err.strip().splitlines()) == 1
    assert surge(capsys, "webhooks", "delete", "1")[1].strip() == "deleted webhook 1"
    assert len(surge(capsys, "webhooks", "list")[1].splitlines()) == 1
