"""What a service builds before it is ready, so that no first request builds it on the loop
that answers redirects."""

from __future__ import annotations

from pathlib import Path

import fastapi.routing
import httpx
import pytest

from surge.apps import build_services
from surge.platform.fastapi_app import warm_routes
from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.helpers import PUBLIC_URL, make_settings


async def test_a_started_api_builds_no_route_on_its_first_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, services = build_services("all", make_settings(tmp_path))
    async with Lifespan(app, services):
        api = next(s for s in services if isinstance(s, ApiService))
        assert warm_routes(api.app.router) > 50  # every route of every door, already built
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
