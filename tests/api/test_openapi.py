"""Every problem the public API answers is documented on its route in the OpenAPI document,
by status and by type, as application/problem+json; every type comes from the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge.apps import build_services
from surge.platform.problems import CATALOGUE, COMMON_PROBLEMS, PROBLEM_CONTENT_TYPE
from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.helpers import PUBLIC_URL, make_settings

LINKS = "/api/v1/links"
TAGS = "/api/v1/tags"
OVERVIEW = "/api/v1/overview"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app, services = build_services("all", make_settings(tmp_path), side_loop=False)
    async with Lifespan(app, services):
        keys = next(s for s in services if isinstance(s, ApiService)).keys
        assert keys is not None
        key = await keys.create("openapi")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield client, {"Authorization": f"Bearer {key.secret}"}


def documented(spec: dict[str, Any], method: str, template: str) -> dict[str, set[str]]:
    """Status → the problem types the route's OpenAPI entry lists for it."""
    responses = spec["paths"][template][method.lower()]["responses"]
    found: dict[str, set[str]] = {}
    for status, response in responses.items():
        media = response.get("content", {}).get(PROBLEM_CONTENT_TYPE)
        if media is not None:
            found[status] = {example["value"]["type"] for example in media["examples"].values()}
    return found


async def test_each_problem_a_route_answers_is_documented_on_it(
    api: tuple[httpx.AsyncClient, dict[str, str]], now: datetime
) -> None:
    client, key = api
    created = await client.post(LINKS, json={"url": "https://e.com", "slug": "taken"}, headers=key)
    assert created.status_code == 201
    tagged = {"url": "https://e.com", "slug": "tagged", "tags": ["a", "b"]}
    assert (await client.post(LINKS, json=tagged, headers=key)).status_code == 201
    json_key = {**key, "content-type": "application/json"}
    stats = f"{LINKS}/taken/stats"
    # By the hour, wholly before the link was made (a range is clamped to the link's lifetime
    # only where it overlaps it): more hours than a query reads.
    hour_range = {
        "from": (now - timedelta(days=400)).isoformat(),
        "to": (now - timedelta(days=200)).isoformat(),
        "interval": "hour",
    }
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        ("POST", LINKS, LINKS, {"json": {"url": "https://e.com"}}),  # no key
        ("POST", LINKS, LINKS, {"json": {"url": "ftp://e.com"}, "headers": key}),
        ("POST", LINKS, LINKS, {"json": {"url": "https://e.com", "slug": "taken"}, "headers": key}),
        ("POST", LINKS, LINKS, {"content": b'{"url": "\xff"}', "headers": json_key}),
        ("GET", LINKS, LINKS, {"params": {"cursor": "!!"}, "headers": key}),
        ("GET", LINKS, LINKS, {"params": {"limit": 0}, "headers": key}),
        ("POST", LINKS, LINKS, {"content": b" " * 70_000, "headers": json_key}),
        ("GET", f"{LINKS}/nope", LINKS + "/{slug}", {"headers": key}),
        ("PATCH", f"{LINKS}/nope", LINKS + "/{slug}", {"json": {}, "headers": key}),
        ("DELETE", f"{LINKS}/nope", LINKS + "/{slug}", {"headers": key}),
        ("GET", f"{LINKS}/nope/stats", LINKS + "/{slug}/stats", {"headers": key}),
        ("GET", f"{LINKS}/nope/visits", LINKS + "/{slug}/visits", {"headers": key}),
        (
            "GET",
            f"{LINKS}/taken/visits",
            LINKS + "/{slug}/visits",
            {"params": {"format": "xml"}, "headers": key},
        ),
        ("PATCH", f"{TAGS}/nope", TAGS + "/{tag}", {"json": {"name": "c"}, "headers": key}),
        ("PATCH", f"{TAGS}/a", TAGS + "/{tag}", {"json": {"name": "b"}, "headers": key}),
        ("PATCH", f"{TAGS}/a", TAGS + "/{tag}", {"json": {"name": "a b"}, "headers": key}),
        ("DELETE", f"{TAGS}/nope", TAGS + "/{tag}", {"headers": key}),
        (
            "GET",
            stats,
            LINKS + "/{slug}/stats",
            {"params": {"from": now.isoformat(), "to": now.isoformat()}, "headers": key},
        ),
        ("GET", stats, LINKS + "/{slug}/stats", {"params": hour_range, "headers": key}),
        ("GET", OVERVIEW, OVERVIEW, {"params": hour_range, "headers": key}),
        (
            "GET",
            OVERVIEW,
            OVERVIEW,
            {"params": {"to": "2026-01-01T00:00:00Z", "from": now.isoformat()}, "headers": key},
        ),
        ("GET", OVERVIEW, OVERVIEW, {}),
        (
            "GET",
            stats,
            LINKS + "/{slug}/stats",
            {"params": {"from": "2026-01-01T00:00:00"}, "headers": key},
        ),
    ]
    spec = (await client.get("/openapi.json")).json()
    answered = set()
    for method, path, template, request in cases:
        response = await client.request(method, path, **request)
        assert response.status_code >= 400, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        problem_type = response.json()["type"]
        answered.add(problem_type)
        listed = documented(spec, method, template).get(str(response.status_code), set())
        assert problem_type in listed, (method, template, response.status_code, problem_type)
    # The cases reach every kind of 4xx the links and tags APIs have, so none was left untested.
    expected = {
        "unauthorized",
        "validation-error",
        "slug-taken",
        "http-error",
        "body-too-large",
        "not-found",
        "invalid-range",
        "range-too-large",
        "tag-taken",
    }
    assert answered == {f"urn:surge:problem:{name}" for name in expected}


async def test_every_public_route_documents_the_common_problems_from_the_catalogue(
    api: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, _ = api
    spec = (await client.get("/openapi.json")).json()
    routes = [
        (template, method)
        for template, item in spec["paths"].items()
        if template.startswith("/api/")
        for method in item
    ]
    # links: 8 and 3 batches (bulk create, tags, delete), keys: 3, domains: 4, tags: 2,
    # overview: 1, orphans: 3, webhooks: 7
    assert len(routes) == 31
    for template, method in routes:
        problems = documented(spec, method, template)
        for common in COMMON_PROBLEMS:
            assert common.uri in problems.get(str(common.status), set()), (template, method)
        for status, types in problems.items():
            assert types <= CATALOGUE.keys()
            assert all(CATALOGUE[t].status == int(status) for t in types)
