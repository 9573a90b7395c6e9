"""`surge geoip check [IP]`: the database's type, build date and one lookup; every refusal one
line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from surge.cli import main
from tests.e2e.processes import surge_cli, surge_env
from tests.geoip_files import WORLD, write_mmdb

pytestmark = pytest.mark.real_clock  # `surge` commands run in processes of their own


def test_check_prints_the_type_the_build_date_and_where_an_address_is(tmp_path: Path) -> None:
    database = write_mmdb(tmp_path / "GeoLite2-City.mmdb", WORLD)
    env = surge_env(tmp_path, SURGE_GEOIP_DB=str(database))
    done = surge_cli(env, "geoip", "check", "192.0.2.10")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"database  {database}"
    assert lines[1] == "type      GeoLite2-City (IPv6)"
    built = datetime.strptime(lines[2], "built     %Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    assert abs((built - datetime.now(UTC)).total_seconds()) < 3600  # written just now
    assert lines[3] == "lookup    192.0.2.10: Munich, Bavaria, DE"
    assert lines[4].startswith("licence   GeoLite2 EULA: keep the data current")
    ipv6 = surge_cli(env, "geoip", "check", "2001:db8:1::5").stdout.splitlines()[3]
    assert ipv6 == "lookup    2001:db8:1::5: Tokyo, Tokyo, JP"
    # No address: a public one, which this small database does not hold.
    sample = surge_cli(env, "geoip", "check").stdout.splitlines()[3]
    assert sample == "lookup    1.1.1.1: unknown (not in this database)"
    # --db checks another file, e.g. a new one before it replaces the one in use.
    country_only = write_mmdb(tmp_path / "Country.mmdb", WORLD, "GeoLite2-Country")
    other = surge_cli(env, "geoip", "check", "--db", str(country_only), "203.0.113.1")
    assert other.stdout.splitlines()[1:] != lines[1:]
    assert "GeoLite2-Country" in other.stdout
    assert other.stdout.splitlines()[3] == "lookup    203.0.113.1: BR"


@pytest.mark.parametrize(
    ("content", "ip", "message"),
    [
        ("unset", "192.0.2.10", "SURGE_GEOIP_DB is not set"),
        ("missing", "192.0.2.10", "GeoLite2-City.mmdb: no such file"),
        (b"\x00" * 512, "192.0.2.10", "GeoLite2-City.mmdb: not a MaxMind DB file"),
        ("good", "192.0.2.999", "not an IP address: '192.0.2.999'"),
    ],
    ids=["unset", "missing", "corrupt", "bad-address"],
)
def test_check_refuses_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes | str,
    ip: str,
    message: str,
) -> None:
    database = tmp_path / "GeoLite2-City.mmdb"
    if content == "good":
        write_mmdb(database, WORLD)
    elif isinstance(content, bytes):
        database.write_bytes(content)
    if content != "unset":
        monkeypatch.setenv("SURGE_GEOIP_DB", str(database))
    else:
        monkeypatch.delenv("SURGE_GEOIP_DB", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["geoip", "check", ip])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.startswith("surge: error: "), err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def test_check_says_what_db_ip_lite_asks_for(tmp_path: Path) -> None:
    database = write_mmdb(tmp_path / "dbip-city-lite-2026-12.mmdb", WORLD, "DBIP-City-Lite")
    done = surge_cli(surge_env(tmp_path), "geoip", "check", "--db", str(database), "198.51.100.1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "type      DBIP-City-Lite (IPv6)"
    assert lines[3] == "lookup    198.51.100.1: Springfield, Illinois, US"
    assert lines[4] == (
        'licence   CC BY 4.0: attribution required, e.g. "IP Geolocation by DB-IP" linking to '
        "https://db-ip.com where people see the locations"
    )
