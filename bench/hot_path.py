"""The redirect's hot path in-process: µs per cached redirect, clicks recorded, no network.

Calls `RedirectService` directly as an ASGI app with a prebuilt scope, 200,000 times per round,
best of five rounds; the click flusher runs against a sink that drops batches. Steadier than a
load test on a shared machine, so it is the figure to compare two versions of the hot path by.

    uv run python bench/hot_path.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from surge.platform.config import Settings
from surge.redirect.app import RedirectService
from surge.redirect.responses import Target

REQUESTS = int(os.environ.get("HOT_PATH_REQUESTS", "200000"))
ROUNDS = int(os.environ.get("HOT_PATH_ROUNDS", "5"))


class DropSink:
    async def send(self, batch: bytes) -> None:
        return None


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/unused.db",
        spool_dir=tmp / "spool",
        bootstrap_admin_key=False,
    )
    service = RedirectService(settings)
    await service.start()
    assert service.clicks is not None
    service.clicks.sink = DropSink()
    target = Target.build(1, "bench", "https://example.com/landing", 302, None, None, 0)

    async def load(_slug: str) -> Target:
        return target

    await service.cache.get_or_load("bench", load)
    gc.collect()
    gc.freeze()
    scope: dict[str, Any] = {
        "type": "http",
        "path": "/bench",
        "method": "GET",
        "headers": [
            (b"user-agent", b"Mozilla/5.0 (X11) Chrome/126"),
            (b"referer", b"https://t.co/x"),
        ],
        "client": ("203.0.113.9", 5000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(_message: dict[str, Any]) -> None:
        return None

    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REQUESTS):
            await service(scope, receive, send)
        best = min(best, (time.perf_counter() - start) / REQUESTS * 1e6)
        await asyncio.sleep(0.2)  # let the flusher drain the round's clicks
    print(f"cached redirect, clicks recorded: {best:.2f} µs per request (best of {ROUNDS})")
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
