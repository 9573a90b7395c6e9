"""Builds each service's ASGI app, and the all-in-one app that serves the three in one process."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from surge.platform.config import ServiceName, Settings
from surge.platform.service import Lifespan, Service

if TYPE_CHECKING:
    from surge.platform.rsgi import NativeHandler, RsgiApp, RsgiProtocol, RsgiScope

# Services are imported where they are built: a redirect process then never loads FastAPI,
# SQLAlchemy or ua-parser (seconds of start-up, and twice the objects a GC pass walks).

# Whole paths and prefixes the api answers (the dashboard too); anything else may be a slug, so
# `/docsify` is one, not the docs.
API_PATHS = frozenset(
    {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/healthz", "/readyz", "/app"}
)
API_PREFIXES = ("/api/", "/internal/links/", "/app/", "/rest/")


class AllInOne:
    """Pure ASGI dispatch by path: the api's paths, analytics' internal ones, else a redirect."""

    def __init__(self, api: ASGIApp, redirect: ASGIApp, analytics: ASGIApp) -> None:
        self.api = api
        self.redirect = redirect
        self.analytics = analytics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if path.startswith("/internal/analytics/"):
            app = self.analytics
        elif path in API_PATHS or path.startswith(API_PREFIXES):
            app = self.api
        else:
            app = self.redirect
        await app(scope, receive, send)


def build_services(
    service: ServiceName, settings: Settings, *, side_loop: bool = True
) -> tuple[ASGIApp, list[Service]]:
    """`side_loop`: the all-in-one's analytics on a loop of its own (what `surge serve` runs);
    False keeps all three on the caller's loop, where tests reach into each service.

    With analytics in a child process (the default), the child is spawned here, to import while
    this process builds; it waits for the lifespan's start, and ends by itself if the app is
    dropped unstarted (it reads EOF for its settings)."""
    migrate = settings.migrates_on_start
    if service == "redirect":
        from surge.redirect.app import RedirectService

        redirect = RedirectService(settings)
        return redirect.app, [redirect]
    if service == "analytics":
        from surge.analytics.app import AnalyticsService

        analytics = AnalyticsService(settings, migrate=migrate)
        return analytics.app, [analytics]
    if service == "api":
        from surge.services.api import ApiService

        api = ApiService(settings, migrate=migrate)
        return api.app, [api]
    from surge.data.live import new_live_hub

    # All in one server: the same REST client code, over in-process ASGI transports, and the
    # live feed through one hub (through Redis when there is one: other workers read it too).
    # Analytics (ingest, stats) runs in a child process on a Unix socket, reached by the same
    # clients, so ingest has a core of its own (docs/adr/0016); or, with
    # SURGE_ALL_IN_ONE_ANALYTICS=thread, on an event loop of its own in a thread of this process,
    # so no batch it ingests holds the loop that answers redirects (docs/adr/0010-side-loop.md).
    hub = new_live_hub()
    analytics_any: Service
    analytics_transport: Callable[[], httpx.AsyncBaseTransport]
    if side_loop and settings.all_in_one_analytics == "process":
        from surge.analytics.process import AnalyticsProcess

        analytics_any = child = AnalyticsProcess(settings, hub)
        # Before the imports below (a second or so): the child's own imports overlap them, on
        # the other core. It waits for its settings until the server starts (`start`).
        child.spawn()
        analytics_transport = child.transport
    else:
        from surge.analytics.app import AnalyticsService
        from surge.platform.side_loop import ThreadedService

        analytics_here = AnalyticsService(settings, migrate=migrate, live_hub=hub)
        analytics_any = ThreadedService(analytics_here) if side_loop else analytics_here
        analytics_transport = partial(httpx.ASGITransport, app=analytics_any.app)
    from surge.redirect.app import RedirectService
    from surge.services.api import ApiService

    # One database for both: analytics, started first, migrates it for the api too.
    api = ApiService(
        settings,
        migrate=False,
        analytics_transport=analytics_transport(),
        live_hub=hub,
    )
    redirect = RedirectService(
        settings,
        api_transport=httpx.ASGITransport(app=api.app),
        analytics_transport=analytics_transport(),
    )
    api.redirect_transports = [httpx.ASGITransport(app=redirect.app)]
    # Started in this order, stopped in reverse: redirect flushes its clicks before analytics goes.
    return AllInOne(api.app, redirect.app, analytics_any.app), [analytics_any, api, redirect]


def build_app(service: ServiceName = "all", settings: Settings | None = None) -> Lifespan:
    """The app a server process runs."""
    app, services = build_services(service, settings or Settings())
    return Lifespan(app, services, freeze_gc=True)


def native_handler(lifespan: Lifespan) -> NativeHandler | None:
    """The redirect's answer from granian's own objects (surge.redirect.native), where the
    app serves redirects; for the all-in-one, only on paths it would route to the redirect.
    None with tracing on: its spans are made around the ASGI app."""
    from surge.redirect.app import RedirectService

    redirect = next((s for s in lifespan.services if isinstance(s, RedirectService)), None)
    if redirect is None or redirect.tracing is not None:
        return None
    serve = redirect.serve_native
    if not isinstance(lifespan.app, AllInOne):
        return serve

    def serve_in_all(scope: RsgiScope, proto: RsgiProtocol) -> bool:
        path = scope.path
        if path in API_PATHS or path.startswith(API_PREFIXES):
            return False
        return serve(scope, proto)  # /internal/… paths are declined by the redirect itself

    return serve_in_all


def rsgi_app(lifespan: Lifespan) -> RsgiApp:
    """The app under granian: its native interface (RSGI) in front of the ASGI app."""
    from surge.platform.rsgi import RsgiApp

    return RsgiApp(lifespan, native_handler(lifespan))


SERVE_SERVICE_VARIABLE = "SURGE_SERVE_SERVICE"  # set by `surge serve --workers N` for its workers


def app_from_environment() -> Lifespan | RsgiApp:
    """A worker's app under `surge serve --workers N`: the service the parent was asked for,
    with Settings from the same environment."""
    from surge.platform.logging import configure_logging
    from surge.platform.shutdown import end_with_parent
    from surge.platform.tracing import configure_from_environment as configure_tracing

    end_with_parent()  # a worker never outlives its server
    settings = Settings()
    service = os.environ.get(SERVE_SERVICE_VARIABLE, "all")
    if settings.server == "granian":
        from surge.platform.shutdown import watch_granian_worker

        watch_granian_worker()
    configure_logging(settings.log_level)
    configure_tracing(service)
    app = build_app(service, settings)  # type: ignore[arg-type]
    native = settings.server == "granian" and settings.granian_interface == "rsgi"
    return rsgi_app(app) if native else app
