"""`/healthz` (the process is alive) and `/readyz` (its dependencies answer) for every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from surge.platform.breakers import Breakers
from surge.platform.db import ping
from surge.platform.migrations import is_current
from surge.platform.readiness import readiness_status

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> dict[str, str]:
        try:
            await ping(engine)
        except Exception as exc:
            return {"database": f"unreachable: {type(exc).__name__}"}
        if not await is_current(engine):
            return {"database": "migrations pending: run `surge migrate`"}
        return {"database": "ok"}

    return check


async def database_ok(request: Request) -> bool:
    """Whether the database of the service serving `request` answers and is current: the
    `database` line of its /readyz (service_app keeps that check in the app's state)."""
    check: ReadinessCheck = request.app.state.database_check()
    return (await check())["database"] == "ok"


def breakers_check(breakers: Breakers) -> ReadinessCheck:
    """An open breaker: degraded (this process answers, without that dependency)."""

    async def check() -> dict[str, str]:
        return {
            f"breaker:{name}": f"degraded: {name} failing, calls to it fail fast"
            for name in breakers.open_ones()
            if name != "database"  # the database check says it better
        }

    return check


async def readiness(checks: list[ReadinessCheck]) -> tuple[str, int, dict[str, str]]:
    report: dict[str, str] = {}
    for check in checks:
        report.update(await check())
    return (*readiness_status(report), report)


def health_routes(checks: Callable[[], list[ReadinessCheck]]) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        status, code, report = await readiness(checks())
        return JSONResponse({"status": status, "checks": report}, code)

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET", "HEAD"], include_in_schema=False),
    ]
