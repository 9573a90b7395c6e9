"""GeoIP: where a click came from (country, region, city), from a MaxMind DB (`.mmdb`) file.

GeoLite2-Country/City, DB-IP lite and any file of their layout, read with `maxminddb` at ingest,
in analytics only: the redirect passes the client address along and never looks it up, and
nothing stores it. The file is looked at again at most every `CHECK_EVERY_S` seconds and read
anew when it changed, so an updated database needs no restart. Nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import maxminddb

from surge.platform.logging import get_logger

log = get_logger(__name__)
CHECK_EVERY_S = 5.0
# Addresses remembered per database: a City record decodes into about a hundred Python objects
# (names in eight languages, coordinates, postcode...), several µs; a returning visitor costs
# one dict lookup instead.
LOOKUP_CACHE = 65_536
MAX_NAME = 128  # clicks.region and clicks.city
_COPY_CHUNK = 1 << 20


class Location(NamedTuple):
    country: str | None  # ISO 3166-1 alpha-2, as the database has it
    region: str | None  # the first subdivision's English name: a state, a province
    city: str | None


NOWHERE = Location(None, None, None)
Locate = Callable[[str | None], Location]


def nowhere(_ip: str | None) -> Location:
    """Where a click is without a GeoIP database."""
    return NOWHERE


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    path: Path
    database_type: str  # e.g. GeoLite2-City, DBIP-City-Lite
    built_at: datetime
    ip_version: int


class DatabaseUnreadable(Exception):
    """The file is missing, unreadable, or not a MaxMind DB; the message says which."""


def _name(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return None
    names = entry.get("names")
    if not isinstance(names, dict) or not names:
        return None
    name = names.get("en") or next(iter(names.values()))
    return str(name)[:MAX_NAME] if name else None


def location_of(record: object) -> Location:
    """A database record as a Location: GeoIP2, GeoLite2 and DB-IP lite share this layout (a
    Country database has no subdivisions and no city)."""
    if not isinstance(record, dict):
        return NOWHERE
    country = record.get("country")
    code = country.get("iso_code") if isinstance(country, dict) else None
    subdivisions = record.get("subdivisions")
    region = _name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    return Location(code if isinstance(code, str) else None, region, _name(record.get("city")))


def _lookup(reader: maxminddb.Reader, ip: str) -> Location:
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]  # an IPv4 client of a dual-stack socket
    try:
        return location_of(reader.get(ip))
    except (ValueError, maxminddb.InvalidDatabaseError):  # not an address; a damaged record
        return NOWHERE


def _open_copy(path: Path) -> maxminddb.Reader:
    """The database from a private copy of the file in memory (Linux), read by the C extension.

    The extension maps the file it opens; a mapped file truncated while it is read (an update
    written over it in place, `cp new.mmdb GeoLite2-City.mmdb`) kills the process with SIGBUS.
    A copy nobody else can write rules that out; it costs the file's size in memory (a City
    database ~60 MB), not disk (Kubernetes gives /tmp 64 MiB)."""
    if not hasattr(os, "memfd_create"):  # macOS: the file itself; replace it by renaming
        return maxminddb.open_database(path)
    fd = os.memfd_create("surge-geoip", os.MFD_CLOEXEC)
    try:
        with path.open("rb") as source, open(fd, "wb", closefd=False) as copy:
            shutil.copyfileobj(source, copy, _COPY_CHUNK)
        return maxminddb.open_database(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)  # the mapping keeps the copy alive as long as the reader lives


def open_database(path: Path) -> tuple[maxminddb.Reader, DatabaseInfo]:
    """Read the database at `path`; DatabaseUnreadable, with the reason, when it cannot be."""
    try:
        reader = _open_copy(path)
        metadata = reader.metadata()
    except FileNotFoundError as exc:
        raise DatabaseUnreadable(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise DatabaseUnreadable(f"{path}: a directory, not a .mmdb file") from exc
    except OSError as exc:
        raise DatabaseUnreadable(f"{path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # the reader's errors for a damaged file vary by version and mode
        raise DatabaseUnreadable(f"{path}: not a MaxMind DB file") from exc
    built = datetime.fromtimestamp(metadata.build_epoch, UTC)
    return reader, DatabaseInfo(path, metadata.database_type, built, metadata.ip_version)


Signature = tuple[int, int, int, int]  # inode, device, size, mtime (ns)
_NEVER: Signature = (-1, -1, -1, -1)


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns


class GeoIP:
    """The database at `path`, looked at again at most every `check_every_s` and read anew when
    the file changed (inode, size or mtime): an update takes effect without a restart.

    A file that is missing or cannot be read is one warning per version of the file; clicks
    are then located by the edge's header alone, and ingest goes on. A database read before
    stays in use while a later version of the file cannot be read."""

    def __init__(self, path: Path, *, check_every_s: float = CHECK_EVERY_S) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self.info: DatabaseInfo | None = None
        self._locate: Callable[[str], Location] = nowhere
        self._tried: Signature | None = _NEVER  # the version of the file last read or tried
        self._next_check = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Time to look at the file again (cheap: the event loop asks before each batch)."""
        return time.monotonic() >= self._next_check

    def refresh(self) -> None:
        """Read the file again if it changed since the last look. Blocking (stat, and a copy of
        the file when it changed): run it in a worker thread."""
        with self._lock:
            if not self.due():
                return  # another batch looked meanwhile
            self._next_check = time.monotonic() + self.check_every_s
            signature = _signature(self.path)
            if signature == self._tried:
                return
            self._tried = signature
            try:
                reader, info = open_database(self.path)
            except DatabaseUnreadable as exc:
                if _signature(self.path) == signature:  # else it was being written: next look
                    self._unreadable(str(exc))
                else:
                    self._tried = _NEVER
                return
            if _signature(self.path) != signature:  # written to while it was copied
                self._tried = _NEVER
                return
            # The old reader is not closed: a lookup under way on the event loop may still hold
            # it, and closing unmaps it. It goes when the last reference does.
            self._locate = lru_cache(maxsize=LOOKUP_CACHE)(partial(_lookup, reader))
            self.info = info
        log.info(
            "geoip_database_loaded",
            path=str(info.path),
            database_type=info.database_type,
            built=info.built_at.date().isoformat(),
        )

    def _unreadable(self, reason: str) -> None:
        if self.info is None:
            log.warning("geoip_database_unavailable", reason=reason, locations="unknown")
        else:
            log.warning(
                "geoip_database_unavailable",
                reason=reason,
                locations=f"from the database read before, built {self.info.built_at.date()}",
            )

    def locate(self, ip: str | None) -> Location:
        """Where `ip` is, as far as the database knows; NOWHERE for an unknown or invalid one."""
        return self._locate(ip) if ip else NOWHERE
