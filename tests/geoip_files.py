"""GeoIP databases the tests make themselves: `.mmdb` files in GeoLite2-City's layout (as DB-IP
lite's), IPv4 and IPv6 networks of the documentation ranges, written with mmdb-writer."""

from __future__ import annotations

import os
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

Place = tuple[str, str | None, str | None]  # country, region, city

# The world as the tests' database sees it.
MUNICH = ("DE", "Bavaria", "Munich")
SPRINGFIELD_IL = ("US", "Illinois", "Springfield")
TOKYO = ("JP", "Tokyo", "Tokyo")
SPRINGFIELD_MO = ("US", "Missouri", "Springfield")
BRAZIL = ("BR", None, None)  # as a Country database answers: no region, no city
VIENNA = ("AT", "Vienna", "Vienna")
WORLD: dict[str, Place] = {
    "192.0.2.0/24": MUNICH,
    "198.51.100.0/24": SPRINGFIELD_IL,
    "2001:db8:1::/48": TOKYO,
    "2001:db8:2::/48": SPRINGFIELD_MO,
    "203.0.113.0/24": BRAZIL,
}
# An update of it: Munich's network moved to Vienna.
MOVED = {**WORLD, "192.0.2.0/24": VIENNA}
NOT_IN_IT = "100.64.0.1"  # no network of WORLD holds it


def record(place: Place) -> dict[str, object]:
    """A record as GeoLite2-City has it (names in several languages, codes, ids)."""
    country, region, city = place
    found: dict[str, object] = {
        "country": {"iso_code": country, "geoname_id": 1, "names": {"de": country, "en": country}},
        "continent": {"code": "EU", "names": {"en": "Europe"}},
    }
    if region is not None:
        found["subdivisions"] = [{"iso_code": region[:3].upper(), "names": {"en": region}}]
    if city is not None:
        found["city"] = {"geoname_id": 2, "names": {"en": city, "ja": f"{city} (ja)"}}
    return found


def write_mmdb(path: Path, world: dict[str, Place], database_type: str = "GeoLite2-City") -> Path:
    """`world` as a MaxMind DB at `path`, written beside it and renamed over it, as geoipupdate
    replaces a database (a reader never sees half a file)."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description="Surge's tests",
    )
    for network, place in world.items():
        writer.insert_network(IPSet([network]), record(place))
    partial = path.with_name(f".{path.name}.partial")
    writer.to_db_file(str(partial))
    os.replace(partial, path)
    return path
