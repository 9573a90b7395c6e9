"""OpenTelemetry tracing, configured only by the standard `OTEL_*` variables and off unless they
ask for it.

Nothing of OpenTelemetry is imported while tracing is off: the redirect process then pays
nothing for it. When on, `configure_from_environment()` (called by `surge serve`) builds one
tracer provider for the process; the services ask `active()` for it as they build their app,
engines and clients:
- inbound: FastAPI instrumentation (api, analytics); the redirect opens its own lean server
  spans (trace_gate.py, TraceGate), not the ASGI middleware;
  `/healthz`, `/readyz` and `/metrics` are not traced;
- outbound: httpx (every service-to-service REST call carries W3C `traceparent`), SQLAlchemy
  (a span per statement), Redis;
- click batches: the redirect keeps the span context of each sampled redirect whose click is in
  a batch (up to MAX_LINKS per batch) and sends them with it; analytics' ingest span links to
  them, so a click's trace leads to the ingest that stored it.
Sampling is the SDK's, from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`: for a redirect at
1%, `parentbased_traceidratio` and `0.01`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from redis.asyncio import Redis, RedisCluster
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.types import ASGIApp

NOT_TRACED = "healthz,readyz,metrics"
MAX_LINKS = 32  # span links sent with one click batch
LINKS_FIELD = "links"  # of a click stream entry
LINKS_HEADER = "x-surge-span-links"  # of an ingest request
TRACED = "surge.traced"  # in the scope of a request TraceGate sent through the tracing

_active: Tracing | None = None


def requested() -> bool:
    """Whether the environment asks for traces: an exporter other than none, or an endpoint."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or exporter == "none":
        return False
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def active() -> Tracing | None:
    return _active


def configure_from_environment(service: str) -> Tracing | None:
    """The process's tracing, when `OTEL_*` asks for it (`service` names it by default)."""
    global _active
    if _active is None and requested():
        _active = Tracing.from_environment(service)
    return _active


def activate(tracing: Tracing | None) -> None:
    """Use `tracing` (a test's, with an in-memory exporter), or none."""
    global _active
    _active = tracing


class Tracing:
    def __init__(
        self,
        provider: TracerProvider,
        *,
        redirect_ratio: float = 1.0,
        redirect_provider: TracerProvider | None = None,
    ) -> None:
        """`redirect_ratio` of the redirects without a parent are traced, by `redirect_provider`
        (which must sample every span it is given; by default `provider`)."""
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        self.provider = provider
        self.redirect_ratio = redirect_ratio
        self.redirect_provider = redirect_provider or provider
        self.tracer = provider.get_tracer("surge")
        self._redis = RedisInstrumentor()

    @classmethod
    def from_environment(cls, service: str) -> Tracing:
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": f"surge-{service}"}).merge(
            OTELResourceDetector().detect()
        )
        if os.environ.get("OTEL_SERVICE_NAME"):
            resource = resource.merge(
                Resource.create({"service.name": os.environ["OTEL_SERVICE_NAME"]})
            )
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

        processor = BatchSpanProcessor(_exporter())
        provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
        provider.add_span_processor(processor)
        # The redirect decides by itself which requests to trace (TraceGate) and traces all
        # it lets through, into the same exporter.
        redirect_provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON))
        redirect_provider.add_span_processor(processor)
        return cls(
            provider, redirect_ratio=_ratio_from_environment(), redirect_provider=redirect_provider
        )

    # --- what the services instrument ---------------------------------------------------------

    def asgi(self, app: ASGIApp, route: Callable[[str], str]) -> ASGIApp:
        """The redirect traced; `route(path)` names its spans (a template, never a raw slug)."""
        from surge.platform.trace_gate import TraceGate

        tracer = self.redirect_provider.get_tracer("surge.redirect")
        return TraceGate(app, tracer, route, self.redirect_ratio)

    def fastapi(self, app: Any) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, excluded_urls=NOT_TRACED, tracer_provider=self.provider
        )

    def httpx_client(self, client: httpx.AsyncClient) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import NoOpMeterProvider

        usage = NoOpMeterProvider().get_meter("surge").create_up_down_counter("unused")
        EngineTracer(self.tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def redis(self, client: Redis | RedisCluster) -> None:
        self._redis.instrument_client(client, tracer_provider=self.provider)

    def shutdown(self) -> None:
        self.provider.shutdown()

    # --- click batches ------------------------------------------------------------------------

    @staticmethod
    def current_traceparent() -> str | None:
        """The W3C traceparent of the span under way, when it is sampled."""
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if not (context.is_valid and context.trace_flags.sampled):
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"

    @contextmanager
    def ingest_span(self, links: Sequence[str], events: int) -> Iterator[None]:
        from opentelemetry.trace import Link, SpanContext, TraceFlags

        span_links = []
        for parent in links[:MAX_LINKS]:
            parts = parent.split("-")
            if len(parts) == 4:
                try:
                    trace_id, span_id = int(parts[1], 16), int(parts[2], 16)
                except ValueError:
                    continue
                context = SpanContext(trace_id, span_id, True, TraceFlags(TraceFlags.SAMPLED))
                span_links.append(Link(context))
        with self.tracer.start_as_current_span(
            "clicks ingest", links=span_links, attributes={"surge.clicks": events}
        ):
            yield


def _ratio_from_environment() -> float:
    """The share of root spans `OTEL_TRACES_SAMPLER` asks for: its ratio, 0 or 1."""
    sampler = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    if sampler.endswith("always_off"):
        return 0.0
    if sampler.endswith("traceidratio"):
        try:
            return min(1.0, max(0.0, float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))))
        except ValueError:
            return 1.0
    return 1.0


def ingest_span(links: Sequence[str], events: int) -> Any:
    """The span of one ingest, linked to the redirects whose clicks it stores."""
    tracing = _active
    return nullcontext() if tracing is None else tracing.ingest_span(links, events)


def _exporter() -> SpanExporter:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")[0].strip().lower()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: Surge knows otlp, console and none")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
