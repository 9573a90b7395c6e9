"""GeoIP at ingest, from a database the tests generate: IPv4 and IPv6 clients located, the edge's
header over the database, the file read again when it changes, and no click lost (nor its count)
when the file is missing or corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import select

from surge.analytics.enrich import enrich
from surge.analytics.geoip import NOWHERE, GeoIP, Location
from surge.analytics.service import ClickService
from surge.data.tables import metadata
from surge.platform.db import SessionMaker
from tests.geoip_files import (
    BRAZIL,
    MOVED,
    MUNICH,
    NOT_IN_IT,
    SPRINGFIELD_IL,
    TOKYO,
    VIENNA,
    WORLD,
    write_mmdb,
)
from tests.helpers import event


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "GeoLite2-City.mmdb", WORLD)


def opened(path: Path) -> GeoIP:
    """The database at `path`, looked at again on every refresh."""
    geoip = GeoIP(path, check_every_s=0)
    geoip.refresh()
    return geoip


def warnings(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["log_level"] == "warning"]


def test_ipv4_and_ipv6_clients_are_located(world: Path) -> None:
    geoip = opened(world)
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)
    assert geoip.locate("198.51.100.200") == Location(*SPRINGFIELD_IL)
    assert geoip.locate("2001:db8:1::5") == Location(*TOKYO)
    assert geoip.locate("2001:db8:1:ffff::1") == Location(*TOKYO)
    assert geoip.locate("::ffff:192.0.2.10") == Location(*MUNICH)  # a dual-stack socket's IPv4
    assert geoip.locate("203.0.113.9") == Location(*BRAZIL)  # a country, no region or city
    assert geoip.info is not None
    assert (geoip.info.database_type, geoip.info.ip_version) == ("GeoLite2-City", 6)


@pytest.mark.parametrize("ip", [NOT_IN_IT, "2001:db8:ff::1", "", None, "unknown", "1.2.3.4.5"])
def test_an_unknown_or_invalid_address_is_nowhere(world: Path, ip: str | None) -> None:
    assert opened(world).locate(ip) == NOWHERE


def test_a_database_replaced_while_running_is_read_again(world: Path) -> None:
    geoip = opened(world)
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)
    write_mmdb(world, MOVED)  # renamed over it, as geoipupdate does
    geoip.refresh()
    assert geoip.locate("192.0.2.10") == Location(*VIENNA)
    assert geoip.locate("2001:db8:1::5") == Location(*TOKYO)


def test_a_database_copied_over_in_place_is_read_again(world: Path) -> None:
    geoip = opened(world)
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)
    newer = write_mmdb(world.with_name("newer.mmdb"), MOVED)
    with world.open("r+b") as same_file:  # `cp newer.mmdb GeoLite2-City.mmdb`: one inode
        same_file.truncate()
        same_file.write(newer.read_bytes())
    geoip.refresh()
    assert geoip.locate("192.0.2.10") == Location(*VIENNA)


def test_the_file_is_looked_at_again_only_every_few_seconds(world: Path) -> None:
    geoip = GeoIP(world)
    geoip.refresh()
    write_mmdb(world, MOVED)
    assert not geoip.due()
    geoip.refresh()  # too soon: not even a stat
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)


@pytest.mark.parametrize(
    "content",
    [None, b"", b"not a database" * 100, "truncated"],
    ids=["missing", "empty", "garbage", "truncated"],
)
def test_an_unreadable_file_is_one_warning_and_nowhere_until_it_is_readable(
    tmp_path: Path, content: bytes | str | None
) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    if content == "truncated":
        path.write_bytes(write_mmdb(tmp_path / "whole.mmdb", WORLD).read_bytes()[:300])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with structlog.testing.capture_logs() as logs:
        geoip = opened(path)
        geoip.refresh()  # looked at again, unchanged: no second warning
    [warning] = warnings(logs)
    assert warning["event"] == "geoip_database_unavailable"
    assert warning["locations"] == "unknown"
    reason = str(warning["reason"])
    assert reason.startswith(str(path))
    assert ("no such file" if content is None else "not a MaxMind DB file") in reason
    assert geoip.locate("192.0.2.10") == NOWHERE
    write_mmdb(path, WORLD)  # the operator puts a good one there: no restart
    geoip.refresh()
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)


def test_an_unreadable_update_keeps_the_database_read_before(world: Path) -> None:
    geoip = opened(world)
    world.write_bytes(world.read_bytes()[:300])
    with structlog.testing.capture_logs() as logs:
        geoip.refresh()
    [warning] = warnings(logs)
    assert "read before" in str(warning["locations"])
    assert geoip.locate("192.0.2.10") == Location(*MUNICH)


def test_the_edge_header_wins_over_the_database(world: Path) -> None:
    locate = opened(world).locate

    def where(
        ip: str | None = None, country: str | None = None
    ) -> tuple[str | None, str | None, str | None]:
        click = enrich(event(ip=ip, country=country), locate)
        return click.country, click.region, click.city

    assert where(ip="192.0.2.10") == MUNICH
    assert where(ip="192.0.2.10", country="de") == MUNICH  # the header agrees: the city counts
    # The header names another country: its word is taken, and the database's region and city
    # (in another country) are not.
    assert where(ip="192.0.2.10", country="FR") == ("FR", None, None)
    assert where(ip=NOT_IN_IT, country="NL") == ("NL", None, None)
    assert where(ip=NOT_IN_IT) == (None, None, None)
    assert where(country="NL") == ("NL", None, None)  # a row from before the address was sent


async def test_stats_break_clicks_down_by_region_and_city_and_the_ip_is_never_stored(
    sessions: SessionMaker, world: Path
) -> None:
    clicks = ClickService(sessions, opened(world))
    addresses = ["192.0.2.10", "192.0.2.11", "198.51.100.1", "2001:db8:2::1", "203.0.113.5"]
    result = await clicks.ingest(
        [event(ip=ip) for ip in addresses]
        + [event(ip=NOT_IN_IT), event(ip="192.0.2.12", country="NL"), event(country="NL")]
    )
    assert result.ingested == 8
    stats = await clicks.link_stats(1, None, None, "day")
    assert stats.total == 8
    assert {b.value: b.clicks for b in stats.countries} == {
        "DE": 2,
        "US": 2,
        "NL": 2,
        "BR": 1,
        "(unknown)": 1,
    }
    # Each with its country, so the two Springfields stay two.
    assert [(b.value, b.clicks) for b in stats.regions] == [
        ("Bavaria, DE", 2),
        ("Illinois, US", 1),
        ("Missouri, US", 1),
    ]
    assert [(b.value, b.clicks) for b in stats.cities] == [
        ("Munich, Bavaria, DE", 2),
        ("Springfield, Illinois, US", 1),
        ("Springfield, Missouri, US", 1),
    ]
    async with sessions() as session:
        for table in metadata.sorted_tables:
            stored = str((await session.execute(select(table))).all())
            assert not any(ip in stored for ip in [*addresses, NOT_IN_IT]), table.name


async def test_a_database_swapped_while_running_locates_the_clicks_after(
    sessions: SessionMaker, world: Path
) -> None:
    clicks = ClickService(sessions, GeoIP(world, check_every_s=0))
    await clicks.ingest([event(ip="192.0.2.10")])
    write_mmdb(world, MOVED)
    await clicks.ingest([event(ip="192.0.2.10"), event(ip="192.0.2.11")])
    stats = await clicks.link_stats(1, None, None, "day")
    assert {b.value: b.clicks for b in stats.cities} == {
        "Vienna, Vienna, AT": 2,
        "Munich, Bavaria, DE": 1,
    }


@pytest.mark.parametrize("content", [None, b"\x00corrupt" * 64], ids=["missing", "corrupt"])
async def test_no_click_loses_its_count_without_a_readable_database(
    sessions: SessionMaker, tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    if content is not None:
        path.write_bytes(content)
    with structlog.testing.capture_logs() as logs:
        clicks = ClickService(sessions, GeoIP(path, check_every_s=0))
        first = await clicks.ingest([event(ip="192.0.2.10"), event(ip="2001:db8:1::5")])
        second = await clicks.ingest([event(ip="198.51.100.1", country="US")])
    assert (first.ingested, second.ingested) == (2, 1)
    assert [w["event"] for w in warnings(logs)] == ["geoip_database_unavailable"]
    stats = await clicks.link_stats(1, None, None, "day")
    assert stats.total == 3
    assert {b.value: b.clicks for b in stats.countries} == {"(unknown)": 2, "US": 1}
    assert (stats.regions, stats.cities) == ([], [])
