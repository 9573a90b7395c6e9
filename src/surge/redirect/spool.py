"""The click spool: batches that could not be delivered wait in an append-only file.

One file per process (`clicks-<host>-<pid>.spool`), held with an exclusive `flock` while the
process lives. A file whose lock nobody holds belongs to a process that is gone: any replica on
the same disk adopts it and replays it — that is how a spool survives a restart. Replay may send
a batch twice after a crash; ingest is idempotent by event id, so nothing is counted twice.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import orjson

from surge.platform.logging import get_logger
from surge.platform.metrics import CLICKS_REPLAYED

log = get_logger(__name__)
Send = Callable[[bytes], Awaitable[None]]


class _SpoolFile:
    """One locked spool file and how many of its lines were already delivered."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self.handle = handle
        self.delivered_lines = 0

    def lines(self) -> list[bytes]:
        with open(self.path, "rb") as reader:
            return [line for line in reader.read().split(b"\n") if line]

    def close(self, *, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class Spool:
    def __init__(self, directory: Path, name: str | None = None) -> None:
        self.directory = directory
        name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.own_path = directory / f"clicks-{name}.spool"
        self._own: _SpoolFile | None = None
        self._adopted: list[_SpoolFile] = []
        self._pending = self._other_files_exist()

    @property
    def pending(self) -> bool:
        """Whether anything may be waiting: new events must queue behind it to keep order."""
        return self._pending

    def append(self, batch: bytes) -> None:
        """Write one packed batch (a JSON array, no newline) as one line and fsync it: once
        this returns the batch is durable."""
        own = self._own or self._open_own()
        own.handle.write(batch + b"\n")
        own.handle.flush()
        os.fsync(own.handle.fileno())
        self._pending = True

    async def replay(self, send: Send) -> None:
        """Send what waits, oldest file first; a failed send raises, and the rest stays."""
        self._adopt_orphans()
        for spool in [*self._adopted, *([self._own] if self._own else [])]:
            lines = spool.lines()
            for line in lines[spool.delivered_lines :]:
                events = _events_in(line)
                if events is not None:
                    await send(line)  # raises: what is left stays for the next replay
                    CLICKS_REPLAYED.inc(events)
                else:  # torn by a crash mid-write: the rest of the file is still good
                    log.error("spool_line_unreadable", path=str(spool.path), line=line[:200])
                spool.delivered_lines += 1
            if spool is self._own:
                spool.handle.truncate(0)
                spool.delivered_lines = 0
            else:
                spool.close(remove=True)
                self._adopted.remove(spool)
                log.info("spool_replayed", path=str(spool.path), batches=len(lines))
        self._pending = False

    def usage(self) -> tuple[int, int]:
        """Spool files holding batches (this process's and orphans) and their bytes."""
        files = size = 0
        for path in self.directory.glob("clicks-*.spool"):
            try:
                file_size = path.stat().st_size
            except FileNotFoundError:  # replayed and removed meanwhile
                continue
            files += file_size > 0
            size += file_size
        return files, size

    def close(self) -> None:
        for spool in self._adopted:
            spool.close(remove=False)
        self._adopted.clear()
        if self._own is not None:
            empty = self._own.path.stat().st_size == 0
            self._own.close(remove=empty)  # a non-empty spool waits for the next start
            self._own = None

    def _open_own(self) -> _SpoolFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.own_path, "ab")
            fcntl.flock(handle, fcntl.LOCK_EX)
            # Another replica may have taken this file for an orphan and removed it meanwhile.
            if os.fstat(handle.fileno()).st_ino == os.stat(self.own_path).st_ino:
                self._own = _SpoolFile(self.own_path, handle)
                return self._own
            handle.close()

    def _other_files_exist(self) -> bool:
        return any(p != self.own_path for p in self.directory.glob("clicks-*.spool"))

    def _adopt_orphans(self) -> None:
        adopted = {s.path for s in self._adopted}
        for path in sorted(self.directory.glob("clicks-*.spool"), key=_mtime):
            if path == self.own_path or path in adopted:
                continue
            try:
                handle = open(path, "ab")
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live replica's spool
                handle.close()
                continue
            if os.fstat(handle.fileno()).st_size == 0:
                path.unlink(missing_ok=True)
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
                continue
            log.info("spool_adopted", path=str(path))
            self._adopted.append(_SpoolFile(path, handle))


def _events_in(line: bytes) -> int | None:
    """How many events a spooled batch holds; None when the line is not one (torn)."""
    try:
        batch = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return len(batch) if isinstance(batch, list) else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
