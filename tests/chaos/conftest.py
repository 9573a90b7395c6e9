"""The backing servers of the chaos scenarios: the machine's shared PostgreSQL and Redis (a
database and a key prefix of the module's own, removed afterwards) where a scenario does not
stop them; servers of the module's own where it does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from tests.chaos.faults import PostgresCluster, RedisServer
from tests.clickhouse import ClickHouseServer, running_clickhouse_server
from tests.services import (
    REDIS_URL,
    database_for_processes,
    require_redis,
)


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    with database_for_processes() as url:
        yield url


@pytest.fixture(scope="module")
def shared_redis_prefix() -> Iterator[str]:
    require_redis()
    prefix = f"surge-chaos-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        redis = Redis.from_url(REDIS_URL)
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def own_clickhouse() -> Iterator[ClickHouseServer]:
    with running_clickhouse_server() as server:
        yield server
