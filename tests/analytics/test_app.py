"""The analytics service keeps its own partitions ahead on PostgreSQL, and locates clicks with
the GeoIP database `SURGE_GEOIP_DB` names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from surge.analytics.app import AnalyticsService
from surge.analytics.partitions import months_around
from surge.platform.config import Settings
from tests.conftest import Surge
from tests.geoip_files import WORLD, write_mmdb
from tests.helpers import BROWSER_UA, LINKS, engine_on, make_settings, wait_for
from tests.shlink.contract import REST, shlink_key

BROWSER = {"accept": "text/html", "user-agent": BROWSER_UA}


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, Any]) -> Settings:
    """Every backend's all-in-one Surge, with a GeoIP database."""
    geoip_db = write_mmdb(tmp_path / "GeoLite2-City.mmdb", WORLD)
    return make_settings(tmp_path, geoip_db=geoip_db, **backend)


async def test_a_missing_partition_ahead_is_created_on_start(
    tmp_path: Path, migrated_pg_url: str, now: datetime
) -> None:
    async with engine_on(migrated_pg_url) as engine:
        furthest = months_around(now, 3, 1)[-1].name
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE "{furthest}"'))

        async def present() -> bool:
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass(:n)"), {"n": furthest})
                return found.scalar() is not None

        assert not await present()
        settings = make_settings(tmp_path, database_url=migrated_pg_url)
        service = AnalyticsService(settings, migrate=False)
        await service.start()
        try:
            await wait_for(present, what=f"{furthest} to be created")
        finally:
            await service.stop()


async def test_clicks_are_located_by_the_address_the_redirect_saw(
    surge: Surge, key: dict[str, str]
) -> None:
    for slug, password in (("geo", None), ("geo-locked", "hunter22")):
        body = {"url": f"https://example.com/{slug}", "slug": slug, "password": password}
        assert (await surge.client.post(LINKS, json=body, headers=key)).status_code == 201
    for client_ip, more in [
        ("192.0.2.10", {}),  # Munich
        ("2001:db8:1::5", {}),  # Tokyo
        ("198.51.100.3", {"cf-ipcountry": "FR"}),  # the edge says France: no city of Illinois
    ]:
        answer = await surge.client.get(
            "/geo", headers={**BROWSER, "x-test-client-ip": client_ip, **more}
        )
        assert answer.status_code == 302
    unlocked = await surge.client.post(  # a protected link's click, after its password
        "/geo-locked",
        content="password=hunter22",
        headers={
            **BROWSER,
            "content-type": "application/x-www-form-urlencoded",
            "x-test-client-ip": "198.51.100.3",
        },
    )
    assert unlocked.status_code == 303

    stats = await surge.stats("geo", key)
    assert {b["value"] for b in stats["countries"]} == {"DE", "JP", "FR"}
    assert [b["value"] for b in stats["regions"]] == ["Bavaria, DE", "Tokyo, JP"]
    assert [b["value"] for b in stats["cities"]] == ["Munich, Bavaria, DE", "Tokyo, Tokyo, JP"]
    locked = await surge.stats("geo-locked", key)
    assert locked["cities"] == [{"value": "Springfield, Illinois, US", "clicks": 1}]

    # The Shlink API's visits name the region and city as they are.
    visits = await surge.client.get(f"{REST}/short-urls/geo/visits", headers=shlink_key(key))
    places = {
        (
            v["visitLocation"]["countryCode"],
            v["visitLocation"]["regionName"],
            v["visitLocation"]["cityName"],
        )
        for v in visits.json()["visits"]["data"]
    }
    assert places == {("DE", "Bavaria", "Munich"), ("JP", "Tokyo", "Tokyo"), ("FR", "", "")}
