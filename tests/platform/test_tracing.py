"""Traces across the three services: each served by its own uvicorn server on loopback, talking
real HTTP (so `traceparent` crosses real requests), in this process so that one in-memory
exporter sees every span. Tracing is off unless `OTEL_*` asks for it, and then the redirect
process never imports OpenTelemetry."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from surge.analytics.app import AnalyticsService
from surge.platform.service import Lifespan, Service
from surge.platform.tracing import Tracing, activate, requested
from surge.redirect.app import RedirectService
from surge.services.api import ApiService
from tests.e2e.processes import free_port
from tests.helpers import make_settings, wait_for


async def serve(service: Service, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        Lifespan(service.app, [service]), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # raises what stopped it
        return server.started

    await wait_for(started, what=f"{service.name} to listen")
    return server, task


@dataclass
class Topology:
    spans: InMemorySpanExporter
    urls: dict[str, str]
    key: str
    redirect: RedirectService


@pytest.fixture
async def topology(tmp_path: Path) -> AsyncIterator[Topology]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    activate(Tracing(provider))
    ports = {name: free_port() for name in ("api", "analytics", "redirect")}
    settings = make_settings(
        tmp_path,
        api_url=f"http://127.0.0.1:{ports['api']}",
        analytics_url=f"http://127.0.0.1:{ports['analytics']}",
        redirect_urls=f"http://127.0.0.1:{ports['redirect']}",
        public_url=f"http://127.0.0.1:{ports['redirect']}",  # the Host the redirect serves
        click_flush_interval_ms=60_000,  # flushed by the test
    )
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    try:
        analytics = AnalyticsService(settings, migrate=True)
        servers.append(await serve(analytics, ports["analytics"]))
        api = ApiService(settings, migrate=False)
        servers.append(await serve(api, ports["api"]))
        redirect = RedirectService(settings)
        servers.append(await serve(redirect, ports["redirect"]))
        assert api.keys is not None
        key = (await api.keys.create("tracer")).secret
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        yield Topology(spans, urls, key, redirect)
    finally:
        for server, _task in reversed(servers):
            server.should_exit = True
        await asyncio.gather(*(task for _server, task in servers), return_exceptions=True)
        activate(None)
        provider.shutdown()


def in_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


async def test_a_cache_miss_redirect_is_one_trace_and_its_ingest_links_to_it(
    topology: Topology,
) -> None:
    spans, urls = topology.spans, topology.urls
    async with httpx.AsyncClient() as client:
        created = await client.post(
            f"{urls['api']}/api/v1/links",
            json={"url": "https://example.com/traced"},
            headers={"Authorization": f"Bearer {topology.key}"},
        )
        assert created.status_code == 201
        slug = created.json()["slug"]
        spans.clear()
        answer = await client.get(f"{urls['redirect']}/{slug}")
        assert answer.status_code == 302
        assert (await client.get(f"{urls['redirect']}/healthz")).status_code == 200
    assert topology.redirect.clicks is not None
    await topology.redirect.clicks.flush()

    finished = spans.get_finished_spans()
    [root] = [
        s
        for s in finished
        if s.parent is None
        and s.attributes
        and s.attributes.get("http.target", s.attributes.get("url.path")) == f"/{slug}"
    ]
    assert root.context is not None
    trace = in_trace(finished, root.context.trace_id)
    names = [s.name for s in trace]
    # The redirect's server span, its call to the api, the api's server span, and the api's
    # query of the link: one trace.
    assert any(s.name.startswith("GET /internal/links/{slug}") for s in trace), names
    api_server = next(s for s in trace if s.name == "GET /internal/links/{slug}")
    db = [
        s
        for s in trace
        if (s.attributes and "db.statement" in s.attributes)
        or (s.attributes and "db.query.text" in s.attributes)
    ]
    assert db, names
    assert api_server.context is not None
    assert all(_descends(s, api_server, trace) for s in db), names
    assert any(s.kind is SpanKind.CLIENT and s.name.startswith("GET") for s in trace), names
    assert not any("healthz" in s.name for s in finished)
    assert root.name == "GET /{slug}"
    assert not any(slug in s.name for s in finished), names  # span names are templates

    [ingest] = [s for s in spans.get_finished_spans() if s.name == "clicks ingest"]
    linked = {(link.context.trace_id, link.context.span_id) for link in ingest.links}
    assert (root.context.trace_id, root.context.span_id) in linked


def _descends(span: ReadableSpan, ancestor: ReadableSpan, trace: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    parent = span.parent
    while parent is not None:
        if ancestor.context is not None and parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


def test_tracing_is_off_unless_otel_variables_ask_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    assert not requested()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert requested()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not requested()


def test_a_redirect_process_without_tracing_loads_no_tracing_code(tmp_path: Path) -> None:
    """No tracer, instrumentation or exporter is loaded. (redis-py 8 itself imports the SDK's
    *metrics* part when the SDK is installed, for its own optional metrics; that is its import,
    at start-up, and nothing of it runs per request.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SURGE_"))}
    env["SURGE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    probe = (
        "import sys; from surge.platform.tracing import configure_from_environment;"
        "from surge.apps import build_app;"
        "configure_from_environment('redirect'); build_app('redirect');"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    loaded = out.stdout.split()
    assert "surge.redirect.app" in loaded
    tracing_code = (
        "opentelemetry.sdk.trace",
        "opentelemetry.instrumentation.",
        "opentelemetry.exporter",
    )
    assert [m for m in loaded if m.startswith(tracing_code)] == []
    # Nor the api's and analytics' stack: seconds of start-up for a redirect replica.
    assert [m for m in loaded if m.startswith(("sqlalchemy", "fastapi", "ua_parser"))] == []
