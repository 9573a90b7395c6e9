"""The production-like backing services for a bench: a throwaway PostgreSQL database and a Redis
of the bench's own, and Redis' command counters (`INFO commandstats`).

Redis: a private `redis-server` on a free port when the binary is installed, because INFO
commandstats counts every client of a server, and other people's tests share the one on :6379;
otherwise that shared one, under a key prefix of the bench's own (its counts then include the
neighbours', which the report says). Either way every key is gone afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis

from .budget import BenchError
from .processes import HOST, free_ports

PG_PORT = 5432
SHARED_REDIS_PORT = 6379
REDIS_SERVER = shutil.which("redis-server")


@dataclass
class Redis:
    port: int
    prefix: str
    private: bool  # our own redis-server: its command counts are ours alone

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (`INFO commandstats`), INFO itself left out."""
    stats = client.info("commandstats")
    calls = {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if isinstance(value, dict)
    }
    calls.pop("info", None)
    return calls


def calls_per_second(
    before: dict[str, int], after: dict[str, int], seconds: float
) -> dict[str, float]:
    """Commands/s between two counts, by command, busiest first."""
    rates = {
        name: (count - before.get(name, 0)) / seconds
        for name, count in after.items()
        if count > before.get(name, 0)
    }
    return dict(sorted(rates.items(), key=lambda item: -item[1]))


@contextlib.contextmanager
def bench_redis(tmp: Path) -> Iterator[Redis]:
    prefix = f"surge-bench-{os.getpid()}:"
    if REDIS_SERVER is None:
        shared = Redis(SHARED_REDIS_PORT, prefix, private=False)
        try:
            yield shared
        finally:
            with contextlib.suppress(redis.RedisError):
                client = shared.client()
                for key in client.scan_iter(match=f"{prefix}*", count=1000):
                    client.delete(key)
        return
    (port,) = free_ports(1)
    argv = [REDIS_SERVER, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    log = (tmp / "redis.log").open("wb")
    process = subprocess.Popen(argv, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    try:
        own = Redis(port, prefix, private=True)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if own.client().ping():
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"redis-server did not start (see {tmp / 'redis.log'})")
            time.sleep(0.05)
        yield own
    finally:
        process.terminate()  # nothing is saved: its keys go with it
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(
        host=HOST, port=PG_PORT, user="postgres", database="postgres"
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database for the run (dropped afterwards, even on error); yields its URL."""
    name = f"surge_bench_{os.getpid()}_{int(time.time())}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"PostgreSQL on {HOST}:{PG_PORT}: {exc}") from exc
    try:
        yield f"postgresql+asyncpg://postgres@{HOST}:{PG_PORT}/{name}"
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
