"""The FastAPI app of a service with a database (api, analytics): settings on its state,
problem+json for every error, its routers, /healthz + /readyz on the database, /metrics, and
every request counted (and, on the api, logged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from surge import __version__
from surge.platform.config import Settings
from surge.platform.health import database_check, health_routes
from surge.platform.metrics import RequestMetrics, RequestTally, exposition
from surge.platform.problems import install_problem_handlers
from surge.platform.tracing import active as active_tracing


async def metrics_endpoint(_request: Request) -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def service_app(
    settings: Settings,
    tally: RequestTally,
    routers: list[APIRouter],
    engine: Callable[[], AsyncEngine],
    *,
    log_requests: bool = False,
    **options: Any,
) -> FastAPI:
    """`engine` gives the started service's engine (readiness asks for it per request)."""
    app = FastAPI(version=__version__, **options)
    app.state.settings = settings
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.router.routes.extend(health_routes(lambda: [database_check(engine())]))
    app.router.routes.append(
        Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    )
    app.add_middleware(
        RequestMetrics,
        tally=tally,
        count=settings.metrics_enabled,
        log_requests=log_requests,
    )
    tracing = active_tracing()
    if tracing is not None:
        tracing.fastapi(app)
    return app
