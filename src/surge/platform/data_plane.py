"""What the api and analytics open in their lifespan: the database (migrated when asked), its
read replicas when asked and configured, and Redis when configured. Closed in reverse on stop."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from surge.platform.breakers import Breakers
from surge.platform.config import Settings
from surge.platform.db import (
    GuardedSessions,
    SessionMaker,
    create_engine,
    create_sessionmaker,
    database_unavailable,
)
from surge.platform.db_metrics import instrument_engine
from surge.platform.migrations import upgrade_to_head
from surge.platform.redis import RedisClient, RedisNames, redis_from_settings
from surge.platform.replicas import ReadReplicas, ReadSessions
from surge.platform.tracing import active as active_tracing


@dataclass(slots=True)
class DataPlane:
    engine: AsyncEngine
    sessions: SessionMaker
    redis: RedisClient | None
    names: RedisNames
    replicas: ReadReplicas

    @property
    def reads(self) -> ReadSessions:
        """Where reads that a replica may answer go (the primary when there is none)."""
        return self.replicas.reads

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        migrate: bool,
        service: str,
        breakers: Breakers,
        read_replicas: bool = False,
    ) -> DataPlane:
        """`service` labels the engine's statement metrics; sessions pass the `database`
        breaker of `breakers`; `read_replicas`: open SURGE_DATABASE_REPLICA_URLS."""

        def instrument(engine: AsyncEngine) -> None:
            if settings.metrics_enabled:
                instrument_engine(engine, service)
            tracing = active_tracing()
            if tracing is not None:
                tracing.engine(engine)

        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            timeout_s=settings.db_timeout_s,
        )
        instrument(engine)
        try:
            if migrate:
                await upgrade_to_head(engine)
        except BaseException:
            await engine.dispose()
            raise
        breaker = await breakers.get("database", database_unavailable)
        maker = create_sessionmaker(engine)
        sessions = GuardedSessions(maker, breaker)
        replicas = await ReadReplicas.open(
            sessions,
            maker,
            engine,
            urls=settings.database_replica_urls if read_replicas else [],
            fresh_s=settings.database_replica_fresh_s,
            timeout_s=settings.database_replica_timeout_s,
            check_s=settings.database_replica_check_s,
            breakers=breakers,
            instrument=instrument,
        )
        return cls(
            engine=engine,
            sessions=sessions,
            redis=redis_from_settings(settings),
            names=RedisNames(settings.redis_prefix),
            replicas=replicas,
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.replicas.close()
        await self.engine.dispose()
