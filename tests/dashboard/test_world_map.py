"""The link page's world map: countries shaded by their clicks, the tiny ones marked, the clicks
no country holds said below; served as an SVG to the link's owner, with region and city tables
on the page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from surge.dashboard.world_map import NO_CLICKS, SHADES, world_map
from surge.data.contracts import LinkStats
from tests.conftest import Surge, running_surge
from tests.geoip_files import WORLD, write_mmdb
from tests.helpers import (
    BROWSER_UA,
    DASHBOARD_PASSWORD,
    dashboard_sign_in,
    make_settings,
)

SVG = "{http://www.w3.org/2000/svg}"


def stats_with(countries: dict[str, int]) -> LinkStats:
    return LinkStats.model_validate(
        {
            "from": datetime(2030, 1, 1, tzinfo=UTC),
            "to": datetime(2030, 1, 8, tzinfo=UTC),
            "interval": "day",
            "total": sum(countries.values()),
            "unique_visitors": 1,
            "bot_clicks": 0,
            "timeseries": [],
            "referrers": [],
            "countries": [{"value": c, "clicks": n} for c, n in countries.items()],
            "devices": [],
            "browsers": [],
            "oses": [],
        }
    )


def drawn(svg: bytes) -> dict[str, tuple[str, str]]:
    """Each shape's title ("France: 12 clicks") → (its element, its fill)."""
    root = ET.fromstring(svg)
    found = {}
    for element in root.iter():
        title = element.find(f"{SVG}title")
        if element.tag in (f"{SVG}path", f"{SVG}circle") and title is not None:
            found[str(title.text)] = (element.tag.removeprefix(SVG), element.get("fill", ""))
    return found


def test_countries_are_shaded_by_their_clicks_and_the_rest_is_grey() -> None:
    svg = world_map(stats_with({"US": 900, "FR": 30, "BR": 1, "SG": 12, "(unknown)": 7}))
    assert len(svg) < 100_000  # small enough to send with every link page
    shapes = drawn(svg)
    assert shapes["United States of America: 900 clicks"] == ("path", SHADES[-1])
    france, brazil = shapes["France: 30 clicks"], shapes["Brazil: 1 click"]
    assert SHADES.index(brazil[1]) < SHADES.index(france[1]) < len(SHADES) - 1
    assert shapes["Germany: 0 clicks"] == ("path", NO_CLICKS)
    # Too small to see as a shape: a dot, because it has clicks; Malta has none, so no dot.
    assert shapes["Singapore: 12 clicks"][0] == "circle"
    assert not any(
        title.startswith("Malta") and kind == "circle" for title, (kind, _) in shapes.items()
    )
    assert b"7 clicks from no country on the map (not located)" in svg


def test_a_link_without_clicks_is_a_grey_world() -> None:
    svg = world_map(stats_with({}))
    assert {fill for _, fill in drawn(svg).values()} == {NO_CLICKS}
    assert b"none in this range" in svg


async def test_the_link_page_shows_the_map_regions_and_cities(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, geoip_db=write_mmdb(tmp_path / "City.mmdb", WORLD))
    async with running_surge(settings) as surge:
        csrf = await signed_in_user(surge)
        form = {"csrf": csrf, "url": "https://example.com/a", "slug": "geo"}
        assert (await surge.client.post("/app/links/new", data=form)).status_code == 303
        for client_ip in ("192.0.2.10", "192.0.2.11", "2001:db8:2::1"):
            headers = {"user-agent": BROWSER_UA, "x-test-client-ip": client_ip}
            assert (await surge.client.get("/geo", headers=headers)).status_code == 302
        # And one click from each of ten more countries, as the edge's header says.
        more = ["FR", "IT", "ES", "PT", "NL", "BE", "PL", "SE", "NO", "FI"]
        for country in more:
            headers = {"user-agent": BROWSER_UA, "cf-ipcountry": country}
            assert (await surge.client.get("/geo", headers=headers)).status_code == 302
        await surge.flush_clicks()

        page = await surge.client.get("/app/links/geo")
        assert 'id="world-map" src="/app/links/geo/map.svg?interval=day"' in page.text
        assert "<h2>Regions</h2>" in page.text
        assert '<th scope="row">Munich, Bavaria, DE</th><td>2</td>' in page.text
        assert '<th scope="row">Springfield, Missouri, US</th><td>1</td>' in page.text
        picture = await surge.client.get("/app/links/geo/map.svg")
        assert picture.headers["content-type"] == "image/svg+xml"
        shapes = drawn(picture.content)
        assert shapes["Germany: 2 clicks"] == ("path", SHADES[-1])
        # Every country with clicks, not only the ten the page's table lists.
        shaded = {title.split(":")[0] for title, (_, fill) in shapes.items() if fill != NO_CLICKS}
        assert len(shaded) == 12, shaded

        # Another user's link: not found, map included.
        other = await someone_elses_link(surge)
        assert (await surge.client.get(f"/app/links/{other}/map.svg")).status_code == 404


async def signed_in_user(surge: Surge) -> str:
    assert surge.api.users is not None
    await surge.api.users.create("ada@example.com", password=DASHBOARD_PASSWORD)
    return await dashboard_sign_in(surge.client, "ada@example.com")


async def someone_elses_link(surge: Surge) -> str:
    key = await surge.new_key("someone else")
    body: dict[str, Any] = {"url": "https://example.com/theirs", "slug": "theirs"}
    made = await surge.client.post("/api/v1/links", json=body, headers=key)
    assert made.status_code == 201, made.text
    return "theirs"
