"""Logs carry the trace and span ids when a span is under way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from surge.platform.logging import add_trace_ids, configure_logging


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("info")
    yield
    structlog.reset_defaults()


def test_every_line_goes_through_the_trace_ids(json_logs: None) -> None:
    assert add_trace_ids in structlog.get_config()["processors"]


def test_a_line_inside_a_span_carries_its_ids() -> None:
    provider = TracerProvider()
    with provider.get_tracer("probe").start_as_current_span("work") as span:
        inside = add_trace_ids(None, "info", {"event": "inside"})
    outside = add_trace_ids(None, "info", {"event": "outside"})
    provider.shutdown()
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert outside == {"event": "outside"}
