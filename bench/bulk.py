"""Bulk create (`POST /api/v1/links/bulk`, 1,000 links a call) against single creates (`POST
/api/v1/links`, one a call) in the same run, on SQLite and on PostgreSQL: links/s each way and
the ratio. The all-in-one app in this process, driven through httpx's ASGI transport (no socket,
no server: what is measured is the request's own work and the database's), rate limits off.
Bounded: --singles single calls, then --batches calls of --size links, per backend.

    uv run --frozen python bench/bulk.py --singles 300 --batches 5 --size 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from parts.runner import run_bench
from parts.stack import bench_database

from surge.apps import build_services
from surge.platform.config import Settings
from surge.platform.db import create_engine
from surge.platform.migrations import upgrade_to_head
from surge.platform.service import Lifespan

PUBLIC_URL = "http://sho.rt"


def settings_for(database_url: str, tmp: Path) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        internal_token="bench-internal-token",
        bootstrap_admin_key=False,
        spool_dir=tmp / "spool",
        rate_limit_per_key="",
        rate_limit_per_ip="",
        shed_lag_ms=60_000,
    )


async def migrated(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def measure(settings: Settings, args: argparse.Namespace) -> dict[str, float]:
    await migrated(settings.database_url)
    app, services = build_services("all", settings)
    async with Lifespan(app, services) as lifespan:
        api = next(s for s in services if hasattr(s, "keys") and hasattr(s, "links"))
        key = await api.keys.create("bench")
        headers = {"Authorization": f"Bearer {key.secret}"}
        transport = httpx.ASGITransport(app=lifespan)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            start = time.perf_counter()
            for i in range(args.singles):
                body = {"url": f"https://example.com/single/{i}", "tags": ["bench"]}
                answer = await client.post("/api/v1/links", json=body, headers=headers)
                assert answer.status_code == 201, answer.text
            single_s = time.perf_counter() - start
            start = time.perf_counter()
            for b in range(args.batches):
                links = [
                    {"url": f"https://example.com/bulk/{b}/{i}", "tags": ["bench"]}
                    for i in range(args.size)
                ]
                answer = await client.post(
                    "/api/v1/links/bulk", json={"links": links}, headers=headers, timeout=120
                )
                assert answer.status_code == 200, answer.text
                assert all("slug" in r for r in answer.json()["results"]), "an item failed"
            bulk_s = time.perf_counter() - start
    single_rate = args.singles / single_s
    bulk_rate = args.batches * args.size / bulk_s
    return {
        "single_links_per_s": single_rate,
        "bulk_links_per_s": bulk_rate,
        "bulk_call_ms": bulk_s / args.batches * 1000,
        "ratio": bulk_rate / single_rate,
    }


def work(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"options": vars(args)}
    print(f"{args.singles} single creates, then {args.batches} bulk creates of {args.size} links")
    print(
        f"{'backend':12} {'single links/s':>15} {'bulk links/s':>13} {'ms a call':>10} {'ratio':>7}"
    )
    backends = [("sqlite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}")]
    if not args.sqlite_only:
        backends.append(("postgresql", ""))
    for name, url in backends:
        if name == "postgresql":
            with bench_database() as pg_url:
                figures = asyncio.run(measure(settings_for(pg_url, tmp), args))
        else:
            figures = asyncio.run(measure(settings_for(url, tmp), args))
        results[name] = figures
        print(
            f"{name:12} {figures['single_links_per_s']:15.0f} {figures['bulk_links_per_s']:13.0f}"
            f" {figures['bulk_call_ms']:10.0f} {figures['ratio']:6.1f}x"
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    return run_bench("bulk", lambda tmp: work(tmp, args))


if __name__ == "__main__":
    sys.exit(main())
