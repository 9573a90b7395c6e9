"""The redirect's hot path in-process: µs per cached redirect, clicks recorded, no network.

Calls `RedirectService` directly as an ASGI app with a prebuilt scope, 200,000 times per round,
best of five rounds; the click flusher runs against a sink that drops batches. Steadier than a
load test on a shared machine, so it is the figure to compare two versions of the hot path by.
Runs two services, metrics on and off (`SURGE_METRICS_ENABLED`), rounds alternating, and
prints what the metrics cost (target: at most 5%). Part of `make bench`.

    uv run python bench/hot_path.py

For a figure the machine's noise cannot move, count instructions per redirect with callgrind,
one service at a time (HOT_PATH_METRICS=on|off) at two request counts, and take the difference:

    HOT_PATH_METRICS=on HOT_PATH_ROUNDS=1 HOT_PATH_REQUESTS=20000 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null .venv/bin/python bench/hot_path.py

and the same with HOT_PATH_RULES=5 for what a link's redirect rules cost (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parts.runner import run_bench

from surge.data.rules import RedirectRule, RuleCondition
from surge.platform.config import Settings
from surge.platform.tracing import Tracing, activate
from surge.redirect.app import RedirectService
from surge.redirect.responses import Target

REQUESTS = int(os.environ.get("HOT_PATH_REQUESTS", "200000"))
ROUNDS = int(os.environ.get("HOT_PATH_ROUNDS", "5"))
METRICS = os.environ.get("HOT_PATH_METRICS", "both")  # on, off, both or none
# A sampling ratio, e.g. 0.01: also a service traced at that ratio (metrics on), its spans
# built and dropped, to measure what tracing costs the hot path.
TRACING = os.environ.get("HOT_PATH_TRACING")
# HOT_PATH_RULES=5: the link has five redirect rules as a campaign sets them, two conditions each
# mixing device, browser, language, query, country and ip; the request matches none (two rules
# hold on one condition and fail on the other), to measure what rules cost a cached redirect.
RULES = os.environ.get("HOT_PATH_RULES") == "5"
FIVE_RULES = [
    RedirectRule(
        url=f"https://example.com/{i}",
        conditions=[RuleCondition(type=t, key=k, value=v) for t, k, v in conditions],
    )
    for i, conditions in enumerate(
        [
            [("device", None, "ios"), ("geolocation-country-code", None, "DE")],
            [("browser", None, "chrome"), ("language", None, "de")],
            [("query-param", "utm_source", "newsletter"), ("device", None, "mobile")],
            [("device", None, "desktop"), ("ip-address", None, "10.0.0.0/8")],
            [("language", None, "fr"), ("geolocation-country-code", None, "FR")],
        ]
    )
]


class DropSink:
    """A click sink (surge.redirect.clicks.ClickSink) that drops every batch. Its signature is
    the protocol's: with one argument short, every flush failed and its clicks went to the
    spool on disk, which the figures then included (found 2026-12-08)."""

    async def send(self, batch: bytes, links: Sequence[str] = (), shard: int | None = None) -> None:
        return None


def tracing_at(ratio: float) -> Tracing:
    """Tracing as `surge serve` builds it for OTEL_TRACES_SAMPLER=parentbased_traceidratio at
    `ratio`, its spans built and dropped."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return Tracing(provider, redirect_ratio=ratio)


async def started(tmp: Path, *, metrics: bool) -> RedirectService:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/unused.db",
        spool_dir=tmp / "spool",
        bootstrap_admin_key=False,
        metrics_enabled=metrics,
    )
    service = RedirectService(settings)
    await service.start()
    assert service.clicks is not None
    service.clicks.sink = DropSink()
    target = Target.build(
        1,
        "bench",
        "https://example.com/landing",
        302,
        None,
        None,
        0,
        service.redirect_headers,
        FIVE_RULES if RULES else (),
    )

    async def load(_slug: str) -> Target:
        return target

    await service.cache.get_or_load("/bench", load)  # the default domain's key of /bench
    return service


async def bench(tmp: Path) -> dict[str, Any]:
    services = {
        f"metrics {mode}": await started(tmp, metrics=mode == "on")
        for mode in ("on", "off")
        if METRICS in (mode, "both")
    }
    if TRACING:
        activate(tracing_at(float(TRACING)))
        services[f"metrics on, traced at {float(TRACING):.0%}"] = await started(tmp, metrics=True)
        activate(None)
    gc.collect()
    gc.freeze()
    scope: dict[str, Any] = {
        "type": "http",
        "path": "/bench",
        "method": "GET",
        "headers": [
            (b"host", b"127.0.0.1:8000"),  # SURGE_PUBLIC_URL's host: the default domain
            (b"user-agent", b"Mozilla/5.0 (X11) Chrome/126"),
            (b"referer", b"https://t.co/x"),
            (b"accept-language", b"en-US,en;q=0.9"),
        ],
        "client": ("203.0.113.9", 5000),
        "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(_message: dict[str, Any]) -> None:
        return None

    best = dict.fromkeys(services, float("inf"))
    for _ in range(ROUNDS):
        for name, service in services.items():
            start = time.perf_counter()
            app = service.app
            for _ in range(REQUESTS):
                await app(scope, receive, send)
            best[name] = min(best[name], (time.perf_counter() - start) / REQUESTS * 1e6)
            await asyncio.sleep(0.2)  # let the flusher drain the round's clicks
    for name, micros in best.items():
        print(f"cached redirect, clicks recorded, {name}: {micros:.2f} µs (best of {ROUNDS})")
    costs: dict[str, float] = {}
    if "metrics on" in best and "metrics off" in best:
        costs["metrics"] = cost = best["metrics on"] / best["metrics off"] - 1
        print(f"metrics cost: {cost:+.1%} per cached redirect (target: at most +5%)")
    for name, micros in best.items():
        if "traced" in name and "metrics on" in best:
            costs[name] = micros / best["metrics on"] - 1
            print(f"tracing cost ({name}): {costs[name]:+.1%}")
    for service in services.values():
        await service.stop()
    return {
        "requests": REQUESTS,
        "rounds": ROUNDS,
        "metrics": METRICS,
        "tracing": TRACING,
        "best_us_per_request": best,
        "cost": costs,
    }


def main() -> int:
    return run_bench("hot-path", lambda tmp: asyncio.run(bench(tmp)))


if __name__ == "__main__":
    sys.exit(main())
