"""The all-in-one's redirect loop while it ingests: analytics on a side loop, or on the same one.

In-process (no server, no socket, so a shared machine's noise weighs less than in
bench/all_in_one.py): the all-in-one as `surge serve` builds it, on a fresh SQLite file, serves
`--redirects` cached redirects as fast as one client goes, each with its own user agent and
address, so ingest parses and stores every click meanwhile. A probe task on the redirects' loop
measures how late a 1 ms timer fires. Alternating rounds, analytics on its own loop (surge.
platform.side_loop, the default) and on the redirects' loop (before): the probe's p99 and
worst lag, the seconds until every click was counted (each checked exact). ~30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from parts.budget import BenchError
from parts.runner import run_bench

from surge.apps import build_services
from surge.platform.config import Settings
from surge.platform.logging import configure_logging
from surge.platform.service import Lifespan
from surge.services.api import ApiService

URL = "http://127.0.0.1:9"  # never dialled: the client's transport is the app itself
PROBE_S = 0.001
SETTLE_TIMEOUT_S = 60.0


async def one_round(tmp: Path, side_loop: bool, redirects: int) -> dict[str, Any]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'lag.db'}", public_url=URL,
        bootstrap_admin_key=False, client_ip_header="x-client-ip", spool_dir=tmp / "spool",
        shed_lag_ms=60_000,  # measured here, not shed
    )  # fmt: skip
    app, services = build_services("all", settings, side_loop=side_loop)
    async with Lifespan(app, services):
        api = next(s for s in services if isinstance(s, ApiService))
        assert api.keys is not None
        headers = {"authorization": f"Bearer {(await api.keys.create('lag')).secret}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
            link = {"url": "https://example.com/", "slug": "lag"}
            if (await client.post("/api/v1/links", json=link, headers=headers)).status_code != 201:
                raise BenchError("could not create the link")
            lags: list[float] = []
            done = asyncio.Event()

            async def probe() -> None:
                while not done.is_set():
                    due = time.perf_counter() + PROBE_S
                    await asyncio.sleep(PROBE_S)
                    lags.append(time.perf_counter() - due)

            start = time.perf_counter()
            probing = asyncio.create_task(probe())
            for i in range(redirects):
                visitor = {
                    "user-agent": f"Mozilla/5.0 (X11; Linux x86_64) Chrome/{i % 997}.0",
                    "x-client-ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                }
                if (await client.get("/lag", headers=visitor)).status_code != 302:
                    raise BenchError("a redirect was not a 302")
                # A cached redirect never waits, so nothing else would run until the last one:
                # one request per turn of the loop, as a server's arrive.
                await asyncio.sleep(0)
            served_s = time.perf_counter() - start
            while (total := await count(client, headers)) < redirects:
                if time.perf_counter() - start > SETTLE_TIMEOUT_S:
                    raise BenchError(f"only {total:,} of {redirects:,} clicks counted")
                await asyncio.sleep(0.05)
            counted_s = time.perf_counter() - start
            done.set()
            await probing
    if total != redirects:
        raise BenchError(f"{total:,} clicks counted for {redirects:,} redirects")
    lags.sort()
    return {
        "analytics": "side loop" if side_loop else "same loop",
        "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 2),
        "lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2),
        "lag_max_ms": round(lags[-1] * 1000, 1),
        "redirects_s": round(served_s, 2),
        "all_counted_s": round(counted_s, 2),
    }


async def count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/api/v1/links/lag/stats", headers=headers)
    total: int = response.json()["total"]
    return total


async def bench(tmp: Path, rounds: int, redirects: int) -> dict[str, Any]:
    configure_logging("warning")  # a line per API call would be measured too
    results = []
    for number in range(rounds):
        for side_loop in (True, False):
            folder = tmp / f"{number}-{side_loop}"
            folder.mkdir()
            result = await one_round(folder, side_loop, redirects)
            print("  " + ", ".join(f"{k} {v}" for k, v in result.items()), flush=True)
            results.append(result)
    summary = {}
    for where in ("side loop", "same loop"):
        mine = [r for r in results if r["analytics"] == where]
        summary[where] = {
            key: statistics.median(r[key] for r in mine)
            for key in ("lag_p99_ms", "lag_max_ms", "all_counted_s")
        }
        print(f"median, analytics on the {where}: {summary[where]}")
    return {"redirects": redirects, "rounds": results, "median": summary}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="each way")
    parser.add_argument("--redirects", type=int, default=10_000)
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 5 and 1_000 <= args.redirects <= 50_000):
        parser.error("--rounds 1-5, --redirects 1,000-50,000")
    return run_bench("loop-lag", lambda tmp: asyncio.run(bench(tmp, args.rounds, args.redirects)))


if __name__ == "__main__":
    sys.exit(main())
