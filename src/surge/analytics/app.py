"""The analytics service's ASGI app and its lifecycle."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from surge import __version__
from surge.analytics.consumer import ClickStreamConsumer
from surge.analytics.partitions import ensure_partitions
from surge.analytics.routes import router
from surge.platform.config import Settings
from surge.platform.db import create_engine, create_sessionmaker
from surge.platform.health import database_check, health_routes
from surge.platform.logging import get_logger
from surge.platform.migrations import upgrade_to_head
from surge.platform.problems import install_problem_handlers
from surge.platform.redis import RedisNames, create_redis
from surge.platform.tasks import cancel_and_wait

log = get_logger(__name__)
PARTITION_UPKEEP_EVERY_S = 12 * 3600


class AnalyticsService:
    name = "analytics"

    def __init__(self, settings: Settings, *, migrate: bool) -> None:
        self.settings = settings
        self.migrate = migrate
        self.engine: AsyncEngine | None = None
        self.redis: Redis | None = None
        self.consumer: ClickStreamConsumer | None = None
        self.upkeep: asyncio.Task[None] | None = None
        app = FastAPI(
            title="Surge analytics (internal)", version=__version__, docs_url=None, redoc_url=None
        )
        app.state.settings = settings
        install_problem_handlers(app)
        app.include_router(router)
        app.router.routes.extend(health_routes(lambda: [database_check(self._engine())]))
        self.app = app

    def _engine(self) -> AsyncEngine:
        assert self.engine is not None, "analytics service not started"
        return self.engine

    async def start(self) -> None:
        self.engine = create_engine(
            self.settings.database_url, pool_size=self.settings.db_pool_size
        )
        if self.migrate:
            await upgrade_to_head(self.engine)
        if self.engine.dialect.name == "postgresql":
            self.upkeep = asyncio.create_task(self._keep_partitions(), name="partition-upkeep")
        sessions = create_sessionmaker(self.engine)
        self.app.state.sessions = sessions
        if self.settings.redis_url:
            self.redis = create_redis(
                self.settings.redis_url, timeout_s=self.settings.redis_timeout_s
            )
            self.consumer = ClickStreamConsumer(
                self.redis,
                sessions,
                RedisNames(self.settings.redis_prefix),
                claim_idle_ms=self.settings.stream_claim_idle_ms,
                read_count=self.settings.stream_read_count,
                # Must return well before the Redis socket timeout would cut the blocked read.
                block_ms=int(self.settings.redis_timeout_s * 500),
            )
            self.consumer.start()

    async def _keep_partitions(self) -> None:
        """Create the coming months' partitions now and twice a day, so no `surge maintain`
        cron is strictly needed (running it too does no harm)."""
        while True:
            try:
                created = await ensure_partitions(self._engine(), datetime.now(UTC))
                if created:
                    log.info("partitions_created", names=created)
            except Exception as exc:
                log.warning("partition_upkeep_failed", error=repr(exc))
            await asyncio.sleep(PARTITION_UPKEEP_EVERY_S)

    async def stop(self) -> None:
        await cancel_and_wait(self.upkeep)
        if self.consumer is not None:
            await self.consumer.stop()
        if self.redis is not None:
            await self.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()
