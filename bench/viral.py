"""Viral step: one link goes from 10% to 90% of the traffic as the traffic grows tenfold.

The production topology on 127.0.0.1: api, analytics and one redirect (`surge serve --service`)
on a throwaway PostgreSQL database and a Redis of the bench's own (parts.stack), clicks through
the Redis stream. 1,000 links are created and warmed. The redirect's saturation is measured (wrk,
hot link, everything running), then, open loop (parts.openloop: constant rate, latency from the
intended send time):

  phase 1: R = 5% of that saturation, the hot link 10% of the requests, the rest spread evenly;
  phase 2: 10 x R (half the saturation: where the tail target is set), the hot link 90%; no
           warmup, so the step itself is measured.

Targets: 0 errors, p99 < 5 ms in each phase, and Redis commands/s flat: phase 2 <= 1.5x phase
1 (INFO commandstats deltas). 1.5x, not 1.0x: the redirect appends one stream entry per click
batch, flushed every 100 ms or at 500 clicks, so batches (and the consumer's reads and acks)
may grow with traffic, but a command per redirect would make the count grow 10x. Bounded
(< 3 min); the database is dropped and the Redis keys deleted afterwards.

    uv run --frozen python bench/viral.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from parts.budget import BenchError, Budget
from parts.load import Config, generate_load
from parts.openloop import open_loop
from parts.processes import Server, free_ports, stop_servers, wait_ready
from parts.runner import run_bench
from parts.stack import Redis, bench_database, bench_redis, calls_per_second, command_calls
from parts.systems import LANDING, Surge, create_key, start_services, surge_env

TIME_LIMIT_S = 175.0
LINKS = 1_000
HOT_BEFORE, HOT_AFTER, STEP = 0.10, 0.90, 10
P99_TARGET_MS = 5.0
REDIS_FLAT = 1.5  # phase 2 / phase 1 Redis commands/s, at most
MIX_LENGTH = 10_000  # the request mix repeats after this many requests
CONNECTIONS = 32


def weighted_paths(slugs: Sequence[str], hot_share: float, seed: int) -> list[str]:
    """MIX_LENGTH paths: slugs[0] hot_share of them, the others in turn; shuffled, so the hot
    link's requests are spread through time rather than bunched."""
    hot = round(MIX_LENGTH * hot_share)
    cold = [f"/{slugs[1 + i % (len(slugs) - 1)]}" for i in range(MIX_LENGTH - hot)]
    paths = [f"/{slugs[0]}"] * hot + cold
    random.Random(seed).shuffle(paths)
    return paths


def start_stack(
    tmp: Path, servers: list[Server], budget: Budget, database: str, own: Redis
) -> Surge:
    api_port, analytics_port, redirect_port = free_ports(3)
    env = surge_env(tmp, api_port, analytics_port, redirect_port)
    env.update(
        SURGE_DATABASE_URL=database,
        SURGE_REDIS_URL=own.url,
        SURGE_REDIS_PREFIX=own.prefix,
        SURGE_VISITOR_SALT_SECRET="surge-bench-visitor-salt",  # defaults refused on PostgreSQL
        SURGE_SPOOL_DIR=str(tmp / "spool"),
        # 1,000 links from one key in a few seconds: far past the default per-key budget.
        SURGE_RATE_LIMIT_PER_KEY="",
        SURGE_RATE_LIMIT_PER_IP="",
    )
    start_services(env, (analytics_port, api_port, redirect_port), servers, tmp, budget)
    key = create_key(env, "viral", tmp, budget)
    wait_ready(servers, budget)
    analytics, api, redirect = servers
    return Surge(api, analytics, redirect, key)


async def create_and_warm(surge: Surge, slugs: Sequence[str]) -> None:
    """Create every link through the api, then GET each once so the redirect caches it."""
    headers = {"authorization": f"Bearer {surge.key}"}
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(headers=headers, timeout=30.0) as client:

        async def create(slug: str) -> None:
            async with gate:
                url = f"{surge.api.url}/api/v1/links"
                response = await client.post(url, json={"url": LANDING, "slug": slug})
            if response.status_code != 201:
                raise BenchError(f"creating {slug}: {response.status_code} {response.text[:200]}")

        async def warm(slug: str) -> None:
            async with gate:
                response = await client.get(f"{surge.redirect.url}/{slug}")
            if response.status_code != 302:
                raise BenchError(f"warming /{slug}: {response.status_code}")

        await asyncio.gather(*(create(slug) for slug in slugs))
        await asyncio.gather(*(warm(slug) for slug in slugs))


def phase(
    name: str, surge: Surge, rate: float, warmup: float, seconds: int, paths: list[str], own: Redis
) -> dict[str, Any]:
    client = own.client()
    before, start = command_calls(client), time.monotonic()
    run = open_loop(surge.redirect.url + paths[0], rate, warmup, seconds, CONNECTIONS, paths)
    after, wall = command_calls(client), time.monotonic() - start
    commands = calls_per_second(before, after, wall)
    result = asdict(run) | {
        "hot_share": paths.count(paths[0]) / len(paths),
        "redis_calls_per_s": round(sum(commands.values()), 1),
        "redis_by_command": {k: round(v, 1) for k, v in commands.items()},
    }
    print(
        f"  {name}: {rate:,.0f} req/s intended, {run.achieved_rps:,.0f} sent; p50 "
        f"{run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, p99.9 {run.p999_ms:.2f} ms; "
        f"{run.errors} errors; Redis {result['redis_calls_per_s']:,.1f} commands/s "
        f"({', '.join(f'{k} {v:,.1f}' for k, v in list(commands.items())[:5])}); "
        f"generator kept up: {run.keeps_up}",
        flush=True,
    )
    return result


def verdicts(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    one, two = phases["phase1"], phases["phase2"]
    flat = two["redis_calls_per_s"] / max(one["redis_calls_per_s"], 0.1)
    return {
        "errors": one["errors"] + two["errors"],
        "p99_ms": {"phase1": one["p99_ms"], "phase2": two["p99_ms"]},
        "redis_ratio": round(flat, 2),
        "met": {
            "errors": one["errors"] + two["errors"] == 0,
            "p99": max(one["p99_ms"], two["p99_ms"]) < P99_TARGET_MS,
            "redis_flat": flat <= REDIS_FLAT,
        },
        "generator_kept_up": one["keeps_up"] and two["keeps_up"],
    }


def bench(args: argparse.Namespace, budget: Budget, tmp: Path) -> dict[str, Any]:
    servers: list[Server] = []
    with bench_database() as database, bench_redis(tmp) as own:
        try:
            surge = start_stack(tmp, servers, budget, database, own)
            slugs = [f"v{i:04d}" for i in range(LINKS)]
            asyncio.run(create_and_warm(surge, slugs))
            print(f"stack up, {LINKS:,} links warmed after {budget.elapsed():.1f}s", flush=True)
            budget.require(2 * args.seconds + 20, "the saturation run and both phases")
            hot = f"{surge.redirect.url}/{slugs[0]}"
            saturated = generate_load(hot, 4, Config(1, 4, 1, 64, 2)).rps
            rate = args.share * saturated
            print(f"saturation {saturated:,.0f} req/s; R = {args.share:.0%} of it = {rate:,.0f}")
            phases = {
                "phase1": phase(
                    "phase 1", surge, rate, 1.0, args.seconds,
                    weighted_paths(slugs, HOT_BEFORE, 1), own,
                ),
                "phase2": phase(
                    "phase 2", surge, STEP * rate, 0.0, args.seconds,
                    weighted_paths(slugs, HOT_AFTER, 2), own,
                ),
            }  # fmt: skip
        finally:
            stop_servers(servers)
    summary = verdicts(phases)
    print_summary(summary, own.private)
    return {
        "options": vars(args),
        "saturation_rps": saturated,
        "rate_r": rate,
        "redis_private": own.private,
        "phases": phases,
        "summary": summary,
    }


def print_summary(summary: dict[str, Any], private: bool) -> None:
    met = summary["met"]

    def word(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"\nerrors {summary['errors']} (target 0): {word(met['errors'])}")
    p99 = summary["p99_ms"]
    print(
        f"p99 phase 1 {p99['phase1']:.2f} ms, phase 2 {p99['phase2']:.2f} ms "
        f"(target < {P99_TARGET_MS} ms): {word(met['p99'])}"
    )
    print(
        f"Redis commands/s phase 2 / phase 1: {summary['redis_ratio']:.2f} "
        f"(target <= {REDIS_FLAT}): {word(met['redis_flat'])}"
    )
    if not private:
        print("warning: the shared Redis was used: its command counts include other clients'")
    if not summary["generator_kept_up"]:
        print("warning: the load generator fell behind its schedule: only a FAIL is conclusive")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per phase")
    parser.add_argument("--share", type=float, default=0.05, help="R, share of saturation")
    args = parser.parse_args(argv)
    if args.seconds < 1 or not 0.001 <= args.share <= 0.1:
        parser.error("--seconds must be >= 1 and --share within 0.001..0.1 (10 x R <= saturation)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    return run_bench("viral", lambda tmp: bench(args, budget, tmp))


if __name__ == "__main__":
    sys.exit(main())
