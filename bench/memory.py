"""The redirect's memory with many links: a process that has served MEMORY_LINKS (1,000,000)
distinct links, each once, stays under 200 MB RSS with its local tier at the configured bound
(`SURGE_CACHE_SIZE`, 100,000); and what one cached entry costs.

In-process, like bench/hot_path.py: `RedirectService` called as an ASGI app, every request a
local miss that loads a fresh link (the api's answer stood in for by a function that builds the
same `Target` the real load path builds, so the network does not set the pace), clicks
recorded and flushed to a sink that drops them. RSS is read from /proc/self/status; the entry
cost is (RSS with the tier full - RSS before) / entries held, so it includes the dict slot, the
`Target` and its prebuilt headers, the slug string and the tier's bookkeeping. Part of
`make bench`.

    uv run python bench/memory.py        # MEMORY_LINKS=200000 for a quick look
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

from surge.platform.config import Settings
from surge.redirect.app import RedirectService
from surge.redirect.responses import Target

LINKS = int(os.environ.get("MEMORY_LINKS", "1000000"))
TARGET_MB = 200.0


class DropSink:
    async def send(self, batch: bytes, links: Sequence[str] = ()) -> None:
        return None


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def bench(tmp: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/unused.db",
        spool_dir=tmp / "spool",
        bootstrap_admin_key=False,
    )
    service = RedirectService(settings)
    await service.start()
    assert service.clicks is not None
    service.clicks.sink = DropSink()
    ids = iter(range(1, 10**9))

    async def load(key: str) -> Target:  # what the api's answer turns into, without the api
        slug = key.rpartition("/")[2]  # the default domain's key is the path: "/{slug}"
        return Target.build(
            next(ids),
            slug,
            f"https://example.com/landing/{slug}?utm_source=bench",
            302,
            None,
            None,
            0,
            service.redirect_headers,
        )

    service._load = load  # type: ignore[method-assign]
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"Mozilla/5.0 (X11) Chrome/126"),
        (b"referer", b"https://t.co/x"),
    ]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    statuses: dict[int, int] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    gc.collect()
    before = rss_mb()
    samples: list[tuple[int, float]] = [(0, before)]
    full_at = None
    started = time.perf_counter()
    app = service.app
    for n in range(1, LINKS + 1):
        scope = {
            "type": "http",
            "path": f"/m{n:07d}",
            "method": "GET",
            "headers": headers,
            "client": ("203.0.113.9", 5000),
        }
        await app(scope, receive, send)
        if n % 1000 == 0:
            await asyncio.sleep(0)  # the flusher's turn, as between requests on a server
        if n == settings.cache_size:
            gc.collect()
            full_at = rss_mb()
        if n % (LINKS // 10) == 0:
            samples.append((n, rss_mb()))
            print(f"{n:>9,} links served: RSS {samples[-1][1]:7.1f} MB", file=sys.stderr)
    seconds = time.perf_counter() - started
    await service.stop()
    held = min(LINKS, settings.cache_size)
    entry_bytes = ((full_at or samples[-1][1]) - before) * 1024 * 1024 / held
    peak = max(mb for _, mb in samples)
    result = {
        "links_served": LINKS,
        "cache_size": settings.cache_size,
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "target_mb": TARGET_MB,
        "met": peak < TARGET_MB,
        "bytes_per_cached_entry": round(entry_bytes),
        "redirects": statuses,
        "seconds": round(seconds, 1),
        "samples": samples,
    }
    print(
        f"redirect memory: {LINKS:,} distinct links served, local tier {settings.cache_size:,}: "
        f"RSS {before:.0f} → peak {peak:.0f} MB (target < {TARGET_MB:.0f} MB: "
        f"{'met' if result['met'] else 'MISSED'}); {entry_bytes:,.0f} bytes per cached entry"
    )
    return result


def main() -> int:
    return run_bench("memory", lambda tmp: asyncio.run(bench(tmp)))


if __name__ == "__main__":
    sys.exit(main())
