"""How much event-loop time a flush of clicks costs: one XADD per click vs one per batch.

Against a real Redis on 127.0.0.1 (SURGE_REDIS_URL, default redis://127.0.0.1:6379/0), under a
throwaway key that is deleted afterwards. Bounded: --flushes flushes of --batch clicks each way.

    uv run python bench/stream_batching.py --batch 500 --flushes 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from parts.runner import run_bench
from redis.asyncio import Redis

from surge.data.events import ClickRow, click_row, pack_batch


def rows(n: int) -> list[ClickRow]:
    now = time.time()
    return [
        click_row(
            id=os.urandom(16).hex(),
            link_id=1,
            slug="bench",
            ts=now,
            referrer="https://news.example/item",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
            country="DE",
            visitor=os.urandom(16).hex(),
        )
        for _ in range(n)
    ]


async def per_click(redis: Redis, stream: str, batch: list[ClickRow]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for row in batch:
            pipe.xadd(stream, {"events": pack_batch([row])})
        await pipe.execute()


async def per_batch(redis: Redis, stream: str, batch: list[ClickRow]) -> None:
    await redis.xadd(stream, {"events": pack_batch(batch)})


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    redis = Redis.from_url(os.environ.get("SURGE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    stream = f"surge-bench-{uuid.uuid4().hex[:8]}:clicks"
    batch = rows(args.batch)
    results: dict[str, Any] = {"options": vars(args)}
    try:
        print(f"{args.flushes} flushes of {args.batch} clicks each")
        for name, flush in (("one XADD per click", per_click), ("one XADD per batch", per_batch)):
            times = []
            cpu = time.process_time()
            for _ in range(args.flushes):
                start = time.perf_counter()
                await flush(redis, stream, batch)
                times.append((time.perf_counter() - start) * 1000)
            cpu_us = (time.process_time() - cpu) / (args.flushes * args.batch) * 1e6
            times.sort()
            p99 = times[int(len(times) * 0.99) - 1]
            median = statistics.median(times)
            print(
                f"{name:20} flush median {median:7.2f} ms  p99 {p99:7.2f} ms"
                f"  client cpu {cpu_us:5.2f} µs/click"
            )
            results[name] = {"median_ms": median, "p99_ms": p99, "client_cpu_us_per_click": cpu_us}
    finally:
        await redis.delete(stream)
        await redis.aclose()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--flushes", type=int, default=200)
    args = parser.parse_args(argv)
    return run_bench("stream-batching", lambda _tmp: asyncio.run(bench(args)))


if __name__ == "__main__":
    sys.exit(main())
