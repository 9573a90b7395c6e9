"""The analytics service's ASGI app and its lifecycle."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.consumer import ClickStreamConsumer
from surge.analytics.enrich import Recording, parse_agent
from surge.analytics.export_routes import router as export_router
from surge.analytics.geoip import GeoIP
from surge.analytics.live import LiveFeed, LocalLiveFeed, RedisLiveFeed
from surge.analytics.orphan_routes import router as orphan_router
from surge.analytics.orphan_service import OrphanService
from surge.analytics.overview import ClickOverview
from surge.analytics.overview_routes import router as overview_router
from surge.analytics.partitions import ensure_partitions
from surge.analytics.retention import expire_raw_clicks
from surge.analytics.routes import router
from surge.analytics.service import ClickService
from surge.data.live import LiveHub
from surge.data.visitors import VisitorHasher
from surge.platform.breakers import Breakers
from surge.platform.clickhouse import ClickHouseUnavailable, HttpClickHouse
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.data_plane import DataPlane
from surge.platform.fastapi_app import (
    click_store_unavailable,
    data_service_stopping,
    open_data_service,
    service_app,
    warm_on_start,
)
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import RequestTally
from surge.webhooks.addresses import Resolver, policy_from, system_resolver
from surge.webhooks.delivery import Sender, webhook_client
from surge.webhooks.event_repository import ClickWebhooks
from surge.webhooks.worker import WebhookWorker

log = get_logger(__name__)
UPKEEP_EVERY_S = 12 * 3600
# A failed upkeep is retried within minutes, not at the next 12-hour round.
UPKEEP_RETRY_S = (60.0, 300.0, 900.0)
# How often the ClickHouse roll-up job looks for newly sealed days and hours: an hour is sealed
# 10 minutes after it ends (clickhouse_rollups.HOUR_GRACE), so the raw tail a stats read scans
# is at most an hour and 20 minutes of clicks. The 12-hour upkeep round would leave 13 hours.
ROLLUP_EVERY_S = 600
# Parsed once at start: ua-parser builds its matchers on the first parse (~190 ms), which would
# otherwise hold the first batch's loop (the redirects' in the all-in-one) that long.
WARM_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


class AnalyticsService:
    name = "analytics"

    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool,
        live_hub: LiveHub | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        """`live_hub`: the live feed of an api in this process (all-in-one without Redis);
        `resolver`: how webhooks' hosts are resolved (tests stub it)."""
        self.settings = settings
        self.resolver = resolver
        self.webhooks: WebhookWorker | None = None
        self.webhook_client: httpx.AsyncClient | None = None
        self.migrate = migrate
        self.live_hub = live_hub
        self.data: DataPlane | None = None
        self.clicks: ClickService | None = None
        self.clickhouse: HttpClickHouse | None = None
        self.clickhouse_clicks: ClickHouseClicks | None = None
        # One per click stream shard this process reads (none without Redis).
        self.consumers: list[ClickStreamConsumer] = []
        self.upkeep = SupervisedLoop("storage-upkeep", self._upkeep, backoff_s=UPKEEP_RETRY_S)
        self.rollups = SupervisedLoop("clickhouse-rollups", self._roll_up, backoff_s=UPKEEP_RETRY_S)
        self.tally = RequestTally(self.name)
        self.breakers = Breakers.from_settings(settings)
        self.app = service_app(
            settings,
            self.tally,
            self.breakers,
            [router, overview_router, orphan_router, export_router],
            self._engine,
            title="Surge analytics (internal)",
            docs_url=None,
            redoc_url=None,
        )
        self.app.add_exception_handler(ClickHouseUnavailable, click_store_unavailable)

    def _engine(self) -> AsyncEngine:
        assert self.data is not None, "analytics service not started"
        return self.data.engine

    async def start(self) -> None:
        settings = self.settings
        warm_on_start(self.app.router)  # before readiness: what the first requests would build
        await asyncio.to_thread(parse_agent, WARM_USER_AGENT)
        self.data = data = await open_data_service(
            settings, self.tally, self.breakers, migrate=self.migrate
        )
        recording = Recording(
            referrer=settings.record_referrer,
            user_agent=settings.record_user_agent,
            location=settings.record_location,
        )
        geoip = None
        if settings.geoip_db is not None and settings.record_location:
            geoip = GeoIP(settings.geoip_db)
            await asyncio.to_thread(geoip.refresh)  # says now if the file is not readable
        clickhouse = None
        if settings.clickhouse_url is not None:
            self.clickhouse = HttpClickHouse(
                settings.clickhouse_url, timeout_s=settings.clickhouse_timeout_s
            )
            if self.migrate:
                await ensure_schema(self.clickhouse)
            clickhouse = self.clickhouse_clicks = ClickHouseClicks(self.clickhouse)
            self.rollups.start()
        live: LiveFeed | None = None
        if data.redis is not None:  # every api process reads it, whoever ingested the batch
            live = RedisLiveFeed(
                data.redis, data.names.live, max_length=settings.live_stream_length
            )
        elif self.live_hub is not None:
            live = LocalLiveFeed(self.live_hub)
        self.clicks = self.app.state.click_service = ClickService(
            data.sessions,
            geoip,
            recording,
            live=live,
            webhooks=ClickWebhooks(),
            visitors=VisitorHasher(settings.visitor_salt_secret),
            clickhouse=clickhouse,
        )
        self.app.state.click_overview = ClickOverview(data.sessions, clickhouse)
        self.app.state.orphan_service = OrphanService(data.sessions, clickhouse)
        if data.engine.dialect.name == "postgresql" or settings.click_retention_days:
            self.upkeep.start()
        self.webhook_client = webhook_client(settings.webhook_timeout_s)
        sender = Sender(
            self.webhook_client, policy_from(settings, self.resolver), settings.webhook_timeout_s
        )
        self.webhooks = WebhookWorker(settings, data.sessions, sender)
        self.webhooks.start()
        if data.redis is not None:
            self.consumers = [
                ClickStreamConsumer(
                    data.redis,
                    self.clicks,
                    data.names,
                    shard=shard,
                    claim_idle_ms=settings.stream_claim_idle_ms,
                    read_count=settings.stream_read_count,
                    # Must return well before the Redis socket timeout would cut the blocked read.
                    block_ms=int(settings.redis_timeout_s * 500),
                )
                for shard in settings.consumed_click_shards
            ]
            for consumer in self.consumers:
                consumer.start()

    async def _upkeep(self) -> None:
        """Now and twice a day: create the coming months' partitions (PostgreSQL) and expire raw
        clicks past the retention, so no `surge maintain` cron is strictly needed (running it
        too does no harm)."""
        engine, now = self._engine(), utc_now()
        created = await ensure_partitions(engine, now)
        if created:
            log.info("partitions_created", names=created)
        if self.settings.click_retention_days:
            expired = await expire_raw_clicks(engine, now, self.settings.click_retention_days)
            log.info("raw_clicks_expired", **asdict(expired))
            if self.clickhouse_clicks is not None:
                cutoff = now - timedelta(days=self.settings.click_retention_days)
                months = await self.clickhouse_clicks.drop_months_before(cutoff)
                log.info("clickhouse_months_dropped", months=months)
        await self.upkeep.sleep(UPKEEP_EVERY_S)

    async def _roll_up(self) -> None:
        """Roll up the ClickHouse days and hours sealed since the last round. Every analytics
        process runs it: rounds racing in several processes write the same rows or fuller
        ones (versioned by the day's or hour's distinct clicks) and the watermarks only move
        past rows written, so there is nothing to coordinate
        (surge.analytics.clickhouse_rollups)."""
        assert self.clickhouse_clicks is not None
        days = await self.clickhouse_clicks.rollups.roll_up(utc_now())
        if days:
            log.info("clickhouse_days_rolled_up", days=len(days))
        await self.rollups.sleep(ROLLUP_EVERY_S)

    async def stop(self) -> None:
        await data_service_stopping(self.tally)
        await self.upkeep.stop()
        await self.rollups.stop()
        for consumer in self.consumers:
            await consumer.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.webhook_client is not None:
            await self.webhook_client.aclose()
        if self.clickhouse is not None:
            await self.clickhouse.aclose()
        if self.data is not None:
            await self.data.close()
