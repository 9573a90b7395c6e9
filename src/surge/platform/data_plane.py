"""What the api and analytics open in their lifespan: the database (migrated when asked) and,
when configured, Redis. Closed in reverse on stop."""

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
from surge.platform.tracing import active as active_tracing


@dataclass(slots=True)
class DataPlane:
    engine: AsyncEngine
    sessions: SessionMaker
    redis: RedisClient | None
    names: RedisNames

    @classmethod
    async def open(
        cls, settings: Settings, *, migrate: bool, service: str, breakers: Breakers
    ) -> DataPlane:
        """`service` labels the engine's statement metrics; sessions pass the `database`
        breaker of `breakers`."""
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            timeout_s=settings.db_timeout_s,
        )
        if settings.metrics_enabled:
            instrument_engine(engine, service)
        tracing = active_tracing()
        if tracing is not None:
            tracing.engine(engine)
        try:
            if migrate:
                await upgrade_to_head(engine)
        except BaseException:
            await engine.dispose()
            raise
        breaker = await breakers.get("database", database_unavailable)
        return cls(
            engine=engine,
            sessions=GuardedSessions(create_sessionmaker(engine), breaker),
            redis=redis_from_settings(settings),
            names=RedisNames(settings.redis_prefix),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
