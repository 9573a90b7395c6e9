"""The FastAPI app of a service with a database (api, analytics): settings on its state,
problem+json for every error, its routers, /healthz + /readyz on the database, /metrics, and
every request counted (and, on the api, logged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from surge import __version__
from surge.platform.admission import ShedApiRequests, admission
from surge.platform.body_limit import BodyLimit
from surge.platform.breakers import BreakerOpen, Breakers
from surge.platform.config import Settings
from surge.platform.data_plane import DataPlane
from surge.platform.db import database_unavailable
from surge.platform.health import breakers_check, database_check, health_routes
from surge.platform.logging import get_logger
from surge.platform.metrics import (
    RequestMetrics,
    RequestTally,
    exposition,
    service_started,
    service_stopped,
)
from surge.platform.problems import (
    DATABASE_UNAVAILABLE,
    DEPENDENCY_UNAVAILABLE,
    INTERNAL_ERROR,
    install_problem_handlers,
)
from surge.platform.security_headers import SecurityHeaders
from surge.platform.tracing import active as active_tracing

log = get_logger(__name__)


async def metrics_endpoint(_request: Request) -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


async def _breaker_open(_request: Request, exc: Exception) -> Response:
    if getattr(exc, "circuit_name", None) == "database":
        problem = DATABASE_UNAVAILABLE("The database is unavailable; try again shortly.")
    else:
        problem = DEPENDENCY_UNAVAILABLE("A service this request needs is failing.")
    problem.headers["Retry-After"] = "5"
    return problem.response()


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot serve is a 503 with Retry-After (logged as a warning, not a
    traceback per request); any other error of these kinds a 500, logged with its traceback."""
    if database_unavailable(exc):
        log.warning("database_unavailable", path=request.url.path, error=repr(exc)[:300])
        return DATABASE_UNAVAILABLE(
            "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
        ).response()
    log.error("unexpected_error", path=request.url.path, exc_info=exc)
    return INTERNAL_ERROR("Something went wrong.").response()


async def click_store_unavailable(request: Request, exc: Exception) -> Response:
    """ClickHouse (SURGE_CLICKHOUSE_URL) out of reach: a 503 with Retry-After, as for the
    database; the clicks wait in the stream meanwhile (an ingest that fails acks nothing)."""
    log.warning("clickhouse_unavailable", path=request.url.path, error=str(exc)[:300])
    return DATABASE_UNAVAILABLE(
        "The click store is unavailable; try again shortly.", headers={"Retry-After": "5"}
    ).response()


async def open_data_service(
    settings: Settings,
    tally: RequestTally,
    breakers: Breakers,
    *,
    migrate: bool,
    read_replicas: bool = False,
) -> DataPlane:
    """The start of api and analytics alike: their data plane (`read_replicas`: with the
    database's read replicas), the deploy marker and request tally, and the process's load
    shedding."""
    data = await DataPlane.open(
        settings,
        migrate=migrate,
        service=tally.service,
        breakers=breakers,
        read_replicas=read_replicas,
    )
    service_started(tally.service, settings.build_commit, tally)
    admission.configure(settings)
    admission.watch_lag()
    return data


async def data_service_stopping(tally: RequestTally) -> None:
    service_stopped(tally)
    await admission.stop_watching()


# In-process tests turn this off (tests/conftest.py): they start a service per test, well over a
# thousand in all, and the warm-up is ~0.2 s of CPU each (30 of 59 s in tests/api/links); their
# first requests build what they use. Served processes always warm.
WARM_ROUTES_ON_START = True


def warm_on_start(router: Any) -> None:
    """What a service does before readiness: `warm_routes`, unless the tests said not to."""
    if WARM_ROUTES_ON_START:
        warm_routes(router)


def warm_routes(router: Any) -> int:
    """Build now what FastAPI builds on the first request that reaches an included router: each
    route's dependants and field validators, hundreds of ms for the api's routers, on the event
    loop of that request (in the all-in-one, the redirects' loop; an idle server's first API
    call after a redirect was shed for it). FastAPI does this lazily per included router
    (`effective_candidates`, 0.16x); on a version without it there is nothing to warm. The
    number of routes built."""
    built = 0
    for route in getattr(router, "routes", ()):
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            built += _warm_branch(route)
        elif hasattr(getattr(route, "app", None), "router"):  # a mounted FastAPI app
            built += warm_routes(route.app.router)
    return built


def _warm_branch(branch: Any) -> int:
    built = 0
    for candidate in branch.effective_candidates():
        built += _warm_branch(candidate) if hasattr(candidate, "effective_candidates") else 1
    low_priority = getattr(branch, "effective_low_priority_routes", None)
    if callable(low_priority):
        built += len(low_priority())
    return built


def service_app(
    settings: Settings,
    tally: RequestTally,
    breakers: Breakers,
    routers: list[APIRouter],
    engine: Callable[[], AsyncEngine],
    *,
    log_requests: bool = False,
    batch_paths: tuple[str, ...] = (),
    **options: Any,
) -> FastAPI:
    """`engine` gives the started service's engine (readiness asks for it per request);
    `batch_paths` take bodies up to SURGE_MAX_BATCH_BODY_BYTES."""
    app = FastAPI(version=__version__, **options)
    app.state.settings = settings
    app.state.database_check = lambda: database_check(engine())
    install_problem_handlers(app)
    # By class, so the handler answers (ExceptionMiddleware) instead of the server-error layer,
    # which would answer and then re-raise: a traceback per request while the database is away.
    for error in (DBAPIError, OSError, TimeoutError):
        app.add_exception_handler(error, _database_error)
    app.add_exception_handler(BreakerOpen, _breaker_open)
    for router in routers:
        app.include_router(router)
    app.router.routes.extend(
        health_routes(lambda: [app.state.database_check(), breakers_check(breakers)])
    )
    app.router.routes.append(
        Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger=dict.fromkeys(batch_paths, settings.max_batch_body_bytes),
    )
    app.add_middleware(ShedApiRequests, service=tally.service)
    app.add_middleware(SecurityHeaders, public_url=settings.public_url)
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
