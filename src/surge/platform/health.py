"""`/healthz` (the process is alive) and `/readyz` (its dependencies answer) for every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from surge.platform.db import ping
from surge.platform.migrations import is_current

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


async def readiness(checks: list[ReadinessCheck]) -> tuple[bool, dict[str, str]]:
    report: dict[str, str] = {}
    for check in checks:
        report.update(await check())
    return all(v == "ok" for v in report.values()), report


def health_routes(checks: Callable[[], list[ReadinessCheck]]) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        ok, report = await readiness(checks())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": report}, 200 if ok else 503
        )

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET", "HEAD"], include_in_schema=False),
    ]
