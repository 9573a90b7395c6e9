"""A visit's location as Shlink shows it: its country by code and by name, and the region and
city GeoIP found."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files

import pytest

from surge.data.contracts import VisitOut
from surge.shlink.adapter import visit
from surge.shlink.countries import NAMES, country_name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("DE", "Germany"),
        ("US", "United States"),
        ("GB", "United Kingdom"),
        ("KR", "South Korea"),
        ("CI", "Ivory Coast"),
        ("fr", "France"),  # any case
        ("XK", "Kosovo"),  # not ISO's, yet sent by GeoIP and edges
        ("ZZ", None),
        ("T1", None),
    ],
)
def test_a_country_is_named_by_its_code(code: str, name: str | None) -> None:
    assert country_name(code) == name


def test_every_iso_3166_country_has_a_name() -> None:
    """Against the time zone database's list of ISO 3166 codes (tzdata, of the dev tools)."""
    listed = (files("tzdata.zoneinfo") / "iso3166.tab").read_text(encoding="utf-8")
    codes = {line.split("\t")[0] for line in listed.splitlines() if line[:1].isalpha()}
    assert len(codes) > 240
    assert codes <= NAMES.keys()
    assert all(NAMES.values())


def clicked_from(
    country: str | None, region: str | None = None, city: str | None = None
) -> VisitOut:
    return VisitOut(
        link_id=1,
        occurred_at=datetime(2030, 1, 1, tzinfo=UTC),
        referrer_host=None,
        country=country,
        device="desktop",
        browser="Chrome",
        os="Windows",
        is_bot=False,
        region=region,
        city=city,
    )


def test_a_visit_located_by_geoip_has_its_region_and_city() -> None:
    location = visit(clicked_from("FR", "Île-de-France", "Paris"), "http://sho.rt/x").visitLocation
    assert location is not None
    assert (location.countryName, location.regionName, location.cityName) == (
        "France",
        "Île-de-France",
        "Paris",
    )


def test_a_visit_located_by_its_country_alone_is_nowhere_more_precise() -> None:
    location = visit(clicked_from("DE"), "http://sho.rt/x").visitLocation
    assert location is not None
    assert location.model_dump() == {
        "countryCode": "DE",
        "countryName": "Germany",
        "regionName": "",
        "cityName": "",
        "latitude": 0.0,
        "longitude": 0.0,
        "timezone": "",
        "isEmpty": False,
    }


@pytest.mark.parametrize("country", [None, "XX"])  # no header; the edge could not place it
def test_a_visit_from_an_unknown_country_is_not_located(country: str | None) -> None:
    assert visit(clicked_from(country), "http://sho.rt/x").visitLocation is None


def test_a_country_code_without_a_name_is_its_own_name() -> None:
    location = visit(clicked_from("T1"), "http://sho.rt/x").visitLocation  # Cloudflare's Tor
    assert location is not None
    assert (location.countryCode, location.countryName) == ("T1", "T1")
