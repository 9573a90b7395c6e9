"""The api service's ASGI app (FastAPI, OpenAPI at /docs) and its lifecycle."""

from __future__ import annotations

import sys

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.accounts.bootstrap import create_first_admin, first_admin_banner
from surge.accounts.keys import KeyService
from surge.accounts.limits import ApiLimits
from surge.accounts.users import UserService
from surge.api.domains.routes import internal_router as domains_internal_router
from surge.api.domains.routes import router as domains_router
from surge.api.keys.routes import router as keys_router
from surge.api.links.bulk_routes import router as bulk_router
from surge.api.links.routes import internal_router, router
from surge.api.orphans.routes import router as orphans_router
from surge.api.overview.routes import router as overview_router
from surge.api.tags.routes import router as tags_router
from surge.api.webhooks.routes import router as webhooks_router
from surge.dashboard.app import ROUTERS as DASHBOARD_ROUTERS
from surge.dashboard.app import install_dashboard
from surge.dashboard.batches import IMPORT_PATH
from surge.data.link_tier import SharedLinkTier
from surge.data.live import LiveHub, new_live_hub
from surge.domains.service import DomainService
from surge.links.analytics_client import LinkChangeNotifier, analytics_unavailable
from surge.links.bulk import BulkLinks
from surge.links.live import LiveStreamReader, LiveStreams
from surge.links.overview import OverviewService
from surge.links.overview_client import OverviewClient
from surge.links.service import LinkService
from surge.orphans.client import OrphanClient
from surge.orphans.service import OrphanVisitService
from surge.platform.breakers import Breakers
from surge.platform.config import Settings
from surge.platform.data_plane import DataPlane
from surge.platform.fastapi_app import (
    data_service_stopping,
    open_data_service,
    service_app,
    warm_on_start,
)
from surge.platform.http import internal_client
from surge.platform.metrics import RequestTally
from surge.platform.rate_limits import RateLimits
from surge.platform.redis import redis_unavailable
from surge.platform.shutdown import forget, on_server_stopping
from surge.shlink.routes import router as shlink_router
from surge.webhooks.addresses import Resolver, system_resolver
from surge.webhooks.service import WebhookService

# Paths that take a batch of links in one body (SURGE_MAX_BATCH_BODY_BYTES).
BATCH_PATHS = (bulk_router.prefix, IMPORT_PATH)


class ApiService:
    name = "api"

    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool,
        analytics_transport: httpx.AsyncBaseTransport | None = None,
        redirect_transports: list[httpx.AsyncBaseTransport] | None = None,
        live_hub: LiveHub | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        """Transports given (all-in-one mode) reach the other services in-process, and so does
        the live feed's hub (analytics publishes into it when there is no Redis). `resolver`:
        how webhooks' hosts are resolved (tests stub it)."""
        self.resolver = resolver
        self.webhooks: WebhookService | None = None
        self.live_hub = new_live_hub() if live_hub is None else live_hub
        self.live_hub_shared = live_hub is not None
        self.live: LiveStreams | None = None
        self.live_reader: LiveStreamReader | None = None
        self.settings = settings
        self.migrate = migrate
        self.analytics_transport = analytics_transport
        self.redirect_transports = redirect_transports
        self.data: DataPlane | None = None
        self.clients: list[httpx.AsyncClient] = []
        self.links: LinkService | None = None
        self.domains: DomainService | None = None
        self.keys: KeyService | None = None
        self.users: UserService | None = None
        self.tally = RequestTally(self.name)
        self.breakers = Breakers.from_settings(settings)
        self.app = service_app(
            settings,
            self.tally,
            self.breakers,
            [
                bulk_router,
                router,
                keys_router,
                domains_router,
                tags_router,
                overview_router,
                orphans_router,
                webhooks_router,
                internal_router,
                domains_internal_router,
                *DASHBOARD_ROUTERS,
                shlink_router,
            ],
            self._engine,
            batch_paths=BATCH_PATHS,
            title="Surge API",
            description="Short links and click analytics. Authenticate with `Bearer <API key>`.",
            log_requests=True,
        )
        install_dashboard(self.app, settings)

    def _engine(self) -> AsyncEngine:
        assert self.data is not None, "api service not started"
        return self.data.engine

    def _client(
        self, base_url: str, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        client = internal_client(
            base_url,
            self.settings.internal_token,
            timeout_s=self.settings.internal_timeout_s,
            transport=transport,
        )
        self.clients.append(client)
        return client

    async def start(self) -> None:
        settings = self.settings
        warm_on_start(self.app.router)  # before readiness: what the first requests would build
        self.data = data = await open_data_service(
            settings, self.tally, self.breakers, migrate=self.migrate, read_replicas=True
        )
        analytics = self._client(settings.analytics_url, self.analytics_transport)
        if self.redirect_transports is not None:
            replicas = [self._client("http://redirect", t) for t in self.redirect_transports]
        else:
            replicas = [self._client(url, None) for url in settings.redirect_urls]
        shared = None
        if data.redis is not None:
            shared = SharedLinkTier(
                data.redis,
                data.names,
                ttl_s=settings.cache_ttl_s,
                negative_ttl_s=settings.negative_cache_ttl_s,
            )
        notifier = LinkChangeNotifier(replicas, shared, data.replicas.recent)
        self.domains = self.app.state.domain_service = DomainService(
            settings, data.sessions, notifier
        )
        # One client of analytics for every question about links, one link or many.
        visits = OverviewClient(
            analytics, await self.breakers.get("analytics", analytics_unavailable)
        )
        self.links = self.app.state.link_service = LinkService(
            settings, data.sessions, notifier, visits, self.domains, data.reads
        )
        self.app.state.bulk_links = BulkLinks(data.sessions, self.links.writes, self.domains)
        self.app.state.overview_service = OverviewService(data.sessions, visits, self.links)
        self.app.state.orphan_visit_service = OrphanVisitService(
            OrphanClient(analytics, await self.breakers.get("analytics", analytics_unavailable)),
            self.domains,
        )
        self.webhooks = self.app.state.webhook_service = WebhookService(
            settings, data.sessions, self.links, self.resolver
        )
        self.keys = self.app.state.key_service = KeyService(data.sessions)
        limits = RateLimits(
            self.name,
            redis=data.redis,
            prefix=data.names.rate_limits,
            breaker=await self.breakers.get("redis", redis_unavailable) if data.redis else None,
        )
        self.app.state.api_limits = ApiLimits(settings, limits)
        self.users = self.app.state.user_service = UserService(data.sessions)
        self.live = self.app.state.live_streams = LiveStreams(
            self.live_hub,
            self.links,
            per_user=settings.live_max_streams_per_user,
            overall=settings.live_max_streams,
            fed=self.live_hub_shared or data.redis is not None,
        )
        on_server_stopping(self.live.close_all)  # before the server waits on open streams
        if data.redis is not None:
            self.live_reader = LiveStreamReader(
                data.redis,
                data.names.live,
                self.live_hub,
                # Returns well before the Redis socket timeout would cut the blocked read.
                block_ms=int(settings.redis_timeout_s * 500),
            )
            await self.live_reader.start()
        if settings.bootstrap_admin_key:
            admin = await create_first_admin(data.sessions, settings.bootstrap_admin_email)
            if admin is not None:
                print(first_admin_banner(admin, settings.public_url), file=sys.stdout, flush=True)

    async def stop(self) -> None:
        if self.live is not None:
            forget(self.live.close_all)
            self.live.close_all()  # open panels end now, not at the server's shutdown timeout
        if self.live_reader is not None:
            await self.live_reader.stop()
        await data_service_stopping(self.tally)
        for client in self.clients:
            await client.aclose()
        self.clients.clear()
        if self.data is not None:
            await self.data.close()
