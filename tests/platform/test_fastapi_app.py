"""What a service builds before it is ready, so that no first request builds it on the loop
that answers redirects."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from surge.apps import build_services
from surge.platform import fastapi_app
from surge.platform.fastapi_app import warm_routes
from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.helpers import PUBLIC_URL, make_settings


async def test_a_started_api_builds_no_route_on_its_first_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastapi_app, "WARM_ROUTES_ON_START", True)  # as served (off in tests)
    app, services = build_services("all", make_settings(tmp_path), side_loop=False)
    async with Lifespan(app, services):
        api = next(s for s in services if isinstance(s, ApiService))
        built: list[str] = []
        original = fastapi.routing._EffectiveRouteContext.from_api_route

        def counted(*args: object, **kwargs: object) -> object:
            built.append(repr(kwargs.get("original_route")))
            return original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(
            fastapi.routing._EffectiveRouteContext, "from_api_route", staticmethod(counted)
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            for path in ("/api/v1/links", "/app/", "/rest/v3/short-urls", "/internal/links/x"):
                assert (await client.get(path)).status_code < 500
            headers = {"x-surge-internal-token": "wrong"}
            await client.get("/internal/analytics/links/1/count", headers=headers)
        assert built == []
        assert warm_routes(api.app.router) > 50  # every route of every door, built at start


def sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (
            inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
        ):
            yield f"{call.__module__}.{getattr(call, '__qualname__', call)}"
        yield from sync_dependencies(sub)


def api_routes(router: Any) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
            yield from api_routes(route.original_router)


def test_every_dependency_is_async(tmp_path: Path) -> None:
    """A plain `def` dependency runs in a worker thread: a thread hop per call (surge.platform.
    deps says why none is)."""
    _, services = build_services("all", make_settings(tmp_path), side_loop=False)
    found = set()
    for service in services:
        router = getattr(service.app, "router", None)
        for route in api_routes(router) if router is not None else ():
            found.update(sync_dependencies(get_dependant(path=route.path, call=route.endpoint)))
            for dependency in route.dependencies:
                if not inspect.iscoroutinefunction(dependency.dependency):
                    found.add(repr(dependency.dependency))
    assert found == set()
