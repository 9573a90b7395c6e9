"""`surge geoip check [IP]`: the GeoIP database analytics locates clicks with, and one lookup.
Only the standard library at import (cli.py imports this for every command); `maxminddb` is
imported when the command runs."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from surge.cli_support import CliError

if TYPE_CHECKING:
    from surge.platform.config import Settings

NAMES = frozenset({"geoip"})
# Looked up when no address is given: one that every database places (Cloudflare's resolver).
SAMPLE_IP = "1.1.1.1"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    geoip = commands.add_parser(
        "geoip", help="the GeoIP database clicks are located with (SURGE_GEOIP_DB)"
    )
    sub = geoip.add_subparsers(dest="geoip_command", required=True)
    check = sub.add_parser(
        "check", help="print the database's type and build date, and where an address is"
    )
    check.add_argument("ip", nargs="?", default=SAMPLE_IP, help=f"default: {SAMPLE_IP}")
    check.add_argument(
        "--db",
        type=Path,
        help="a file to check instead of SURGE_GEOIP_DB (a new one, before it replaces it)",
    )


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    for line in check(args.db or settings.geoip_db, args.ip):
        print(line)
    return 0


def check(path: Path | None, ip: str) -> list[str]:
    """What `surge geoip check` prints, a line each; CliError when the file cannot be read."""
    from surge.analytics.geoip import DatabaseUnreadable, location_of, open_database

    if path is None:
        raise CliError("SURGE_GEOIP_DB is not set (or pass --db FILE): no GeoIP database")
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise CliError(f"not an IP address: {ip!r}") from exc
    try:
        reader, info = open_database(path)
    except DatabaseUnreadable as exc:
        raise CliError(str(exc)) from exc
    found = location_of(reader.get(ip))
    place = ", ".join(part for part in (found.city, found.region, found.country) if part)
    lines = [
        f"database  {info.path}",
        f"type      {info.database_type} (IPv{info.ip_version})",
        f"built     {info.built_at:%Y-%m-%d %H:%M} UTC",
        f"lookup    {ip}: {place or 'unknown (not in this database)'}",
    ]
    for prefix, terms in LICENCES.items():
        if info.database_type.upper().startswith(prefix):
            lines.append(f"licence   {terms}")
    return lines


# What the free databases' licences ask of whoever shows their data (docs/operations.md).
LICENCES = {
    "DBIP": 'CC BY 4.0: attribution required, e.g. "IP Geolocation by DB-IP" linking to '
    "https://db-ip.com where people see the locations",
    "GEOLITE": "GeoLite2 EULA: keep the data current, delete old versions, attribute MaxMind "
    "when you share it",
}
