"""The FastAPI app of a service with a database (api, analytics): settings on its state,
problem+json for every error, its routers, and /healthz + /readyz on the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from surge import __version__
from surge.platform.config import Settings
from surge.platform.health import database_check, health_routes
from surge.platform.problems import install_problem_handlers


def service_app(
    settings: Settings,
    routers: list[APIRouter],
    engine: Callable[[], AsyncEngine],
    **options: Any,
) -> FastAPI:
    """`engine` gives the started service's engine (readiness asks for it per request)."""
    app = FastAPI(version=__version__, **options)
    app.state.settings = settings
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.router.routes.extend(health_routes(lambda: [database_check(engine())]))
    return app
