"""Reads from PostgreSQL streaming replicas, with read-your-writes and the primary as fallback.

A read that may be served by a replica (`ReadSessions.run`) goes to one, round robin, unless
- the caller (an API key's user, a dashboard user: `reading_as`) committed a write in the last
  `fresh_s` seconds, or the read names a key written that recently (a link the redirect asks
  for right after it changed): then the primary answers, so a caller always sees their own
  change (read-your-writes by a window, docs/data-plane.md says why not LSN waiting);
- the replica's breaker is open, or its measured lag exceeds `fresh_s` (a replica that far
  behind would break the window's promise).
A replica that fails the read (refused, timed out, shut down mid-query) costs that read a
second try on the primary, never the request; after `threshold` such failures its breaker
opens and reads skip it until a probe (the lag check, or a read) finds it back.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import TTLCache
from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from surge.platform.breakers import Breaker, BreakerOpen, Breakers
from surge.platform.db import SessionMaker, create_engine, database_unavailable
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import DB_READS, DB_REPLICA_LAG, DB_REPLICA_LAG_BYTES

T = TypeVar("T")
log = get_logger(__name__)

# Whose writes this request's reads must see; set by the doors once they know the caller.
_CALLER: ContextVar[str | None] = ContextVar("surge_db_caller", default=None)
# Callers and keys marked within one window, at most: past it the oldest marks go early.
MAX_MARKS = 100_000
# Primary positions remembered to date a replica's lag (one per check).
LAG_HISTORY = 600

_LSN = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
_REPLAYED = text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint")


def replica_failed(exc: BaseException) -> bool:
    """Whether a read on a replica failed in the database, not in the request: run it again on
    the primary. Wider than `database_unavailable` (which alone counts toward the replica's
    breaker): a query a standby cancels for a recovery conflict (SQLSTATE 40001) or a pool
    timeout is the replica's problem too, and a read is safe to run twice."""
    return isinstance(exc, SQLAlchemyError | BreakerOpen) or database_unavailable(exc)


def changed_link_mark(key: str) -> str:
    """The RecentWrites mark of the link cached under `key` (surge.data.contracts.link_key)."""
    return f"link:{key}"


def reading_as(user_id: int) -> None:
    """The current request acts as this user: its reads see the user's recent writes."""
    _CALLER.set(f"user:{user_id}")


class RecentWrites:
    """Callers and keys that wrote in the last `window_s` seconds (monotonic time)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.marks: TTLCache[str, bool] = TTLCache(MAX_MARKS, ttl=window_s, timer=time.monotonic)

    def mark(self, key: str) -> None:
        self.marks[key] = True

    def mark_caller(self) -> None:
        caller = _CALLER.get()
        if caller is not None:
            self.mark(caller)

    def __contains__(self, key: object) -> bool:
        return key in self.marks


def track_commits(maker: async_sessionmaker[AsyncSession], recent: RecentWrites) -> None:
    """Every commit through `maker` (the primary's: `transaction()` is the one place that
    commits) marks the request's caller as having written."""

    class PrimarySession(Session):
        pass

    event.listen(PrimarySession, "after_commit", lambda _session: recent.mark_caller())
    maker.configure(sync_session_class=PrimarySession)


@dataclass(slots=True)
class Replica:
    name: str
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    breaker: Breaker
    lag_s: float = 0.0


class ReadSessions:
    """Runs reads on a replica when one may answer them, else (or when it fails) the primary."""

    def __init__(
        self, primary: SessionMaker, replicas: list[Replica], recent: RecentWrites
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.recent = recent
        self._turn = itertools.count()
        # Fetched once: `labels()` on each read cost ~3 µs, the rest of `run` ~0.4 µs.
        self.to_replica = DB_READS.labels("replica")
        self.to_primary = DB_READS.labels("primary")
        self.to_fallback = DB_READS.labels("fallback")

    @classmethod
    def primary_only(cls, primary: SessionMaker) -> ReadSessions:
        return cls(primary, [], RecentWrites(1.0))

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, key: str = "") -> T:
        """`work` (a read, safe to run twice) on a session; `key`: what else written recently
        the read must see (RecentWrites.mark)."""
        replica = self._replica_for(key)
        if replica is not None:
            try:
                async with replica.breaker.guard(), replica.maker() as session:
                    result = await work(session)
            except Exception as exc:
                if not replica_failed(exc):
                    raise
                log.warning("replica_read_failed", replica=replica.name, error=repr(exc)[:300])
                self.to_fallback.inc()
            else:
                self.to_replica.inc()
                return result
        else:
            self.to_primary.inc()
        async with self.primary() as session:
            return await work(session)

    def _replica_for(self, key: str) -> Replica | None:
        if not self.replicas or _CALLER.get() in self.recent or (key and key in self.recent):
            return None
        start = next(self._turn)
        for offset in range(len(self.replicas)):
            replica = self.replicas[(start + offset) % len(self.replicas)]
            if not replica.breaker.refusing and replica.lag_s <= self.recent.window_s:
                return replica
        return None


class ReplicaLagWatch:
    """Measures each replica's lag every `interval_s`: how long ago the primary was at the
    first position the replica has not replayed (from the primary positions seen at earlier
    checks, so no clock of another machine is read), and the WAL bytes between."""

    def __init__(self, primary: AsyncEngine, replicas: list[Replica], interval_s: float) -> None:
        self.primary = primary
        self.replicas = replicas
        self.interval_s = interval_s
        self.positions: deque[tuple[float, int]] = deque(maxlen=LAG_HISTORY)
        self.behind: set[str] = set()
        self.loop = SupervisedLoop("replica-lag", self._round)

    async def _round(self) -> None:
        await self.check()
        await self.loop.sleep(self.interval_s)

    async def check(self) -> None:
        async with self.primary.connect() as conn:
            position = int((await conn.execute(_LSN)).scalar_one())
        now = time.monotonic()
        self.positions.append((now, position))
        for replica in self.replicas:
            try:
                async with replica.breaker.guard(), replica.engine.connect() as conn:
                    replayed = (await conn.execute(_REPLAYED)).scalar_one_or_none()
            except Exception as exc:
                if not replica_failed(exc):
                    raise
                continue  # its breaker keeps reads away; the next check probes it again
            # None: not a standby (a promoted replica, or the primary named twice): no lag.
            self._record(replica, now, position, position if replayed is None else replayed)

    def _record(self, replica: Replica, now: float, position: int, replayed: int) -> None:
        first_unreplayed = next((t for t, lsn in self.positions if lsn > replayed), None)
        replica.lag_s = 0.0 if first_unreplayed is None else now - first_unreplayed
        DB_REPLICA_LAG.labels(replica.name).set(replica.lag_s)
        DB_REPLICA_LAG_BYTES.labels(replica.name).set(max(0, position - replayed))
        if replica.lag_s > self.interval_s and replica.name not in self.behind:
            self.behind.add(replica.name)
            log.warning("replica_behind", replica=replica.name, lag_s=round(replica.lag_s, 3))
        elif replica.lag_s <= self.interval_s and replica.name in self.behind:
            self.behind.discard(replica.name)
            log.info("replica_caught_up", replica=replica.name)


class ReadReplicas:
    """The replicas of one service: their engines, the reads over them, their lag watch."""

    def __init__(self, reads: ReadSessions, watch: ReplicaLagWatch | None) -> None:
        self.reads = reads
        self.watch = watch

    @classmethod
    async def open(
        cls,
        primary: SessionMaker,
        primary_maker: async_sessionmaker[AsyncSession],
        primary_engine: AsyncEngine,
        *,
        urls: list[str],
        fresh_s: float,
        timeout_s: float,
        check_s: float,
        breakers: Breakers,
        instrument: Callable[[AsyncEngine], Any],
    ) -> ReadReplicas:
        """Reads over `urls` (none: every read on `primary`); commits through
        `primary_maker` start their caller's read-your-writes window."""
        recent = RecentWrites(fresh_s)
        replicas = []
        for index, url in enumerate(urls):
            name = f"replica-{index}"
            engine = create_engine(url, timeout_s=timeout_s)
            instrument(engine)
            breaker = await breakers.get(f"database-{name}", database_unavailable)
            maker = async_sessionmaker(engine, expire_on_commit=False)
            replicas.append(Replica(name, engine, maker, breaker))
        if not replicas:
            return cls(ReadSessions(primary, [], recent), None)
        track_commits(primary_maker, recent)
        watch = ReplicaLagWatch(primary_engine, replicas, check_s)
        watch.loop.start()
        return cls(ReadSessions(primary, replicas, recent), watch)

    @property
    def recent(self) -> RecentWrites:
        return self.reads.recent

    async def close(self) -> None:
        if self.watch is not None:
            await self.watch.loop.stop()
        for replica in self.reads.replicas:
            await replica.engine.dispose()
