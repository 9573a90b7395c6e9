"""ClickHouse (SURGE_CLICKHOUSE_URL) fails under load: killed, started again and at once hung
(SIGSTOP), then continued. ClickHouse is this module's own server; PostgreSQL and Redis are the
machine's shared ones (a database and a key prefix of the module's own), never stopped here.

Redirects never wait on ClickHouse; its clicks wait in the Redis stream, unacknowledged, until
an ingest stores them. Stats and visits answer 503 with Retry-After meanwhile, from analytics
itself within its ClickHouse timeout, and from the api as they reach it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from surge.platform.redis import RedisNames
from tests.chaos.faults import wait_until
from tests.chaos.load import (
    FAULT_AT_S,
    FAULT_S,
    LOAD_S,
    RATE,
    Load,
    Outcome,
    Summary,
    between,
    describe,
    latency_bound,
    ms,
    not_ok,
    percentile,
    probe,
    redirects_answered,
)
from tests.chaos.topology import INTERNAL_TIMEOUT_S, Topology
from tests.clickhouse import ClickHouseServer, new_database
from tests.helpers import PROBLEM_JSON
from tests.services import REDIS_URL

pytestmark = pytest.mark.chaos

# Under the api's timeout of its calls to analytics (1 s): a hung ClickHouse is a 503 that
# analytics answers itself, not a call the api gives up on.
CLICKHOUSE_TIMEOUT_S = 0.5
# Every stats or visits request during the outage is answered, 503, within its timeout (the
# api's of analytics, analytics' of ClickHouse) and a margin for a busy machine.
ANSWER_S = INTERNAL_TIMEOUT_S + 1.0
# Redirects never touch ClickHouse: as during any other fault that spares them.
REDIRECT_P99_S = 0.050
INTERNAL_TOKEN = {"x-surge-internal-token": "e2e-internal-token"}  # tests/e2e/processes.py's


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory,
    shared_database: str,
    shared_redis_prefix: str,
    own_clickhouse: ClickHouseServer,
) -> Iterator[Topology]:
    with Topology(
        tmp_path_factory.mktemp("surge"),
        database_url=shared_database,
        redis_url=REDIS_URL,
        redis_prefix=shared_redis_prefix,
        SURGE_CLICKHOUSE_URL=f"{own_clickhouse.url}/{new_database()}",
        SURGE_CLICKHOUSE_TIMEOUT_S=str(CLICKHOUSE_TIMEOUT_S),
    ) as topology:
        yield topology


@pytest.fixture(autouse=True)
def healthy(topology: Topology, own_clickhouse: ClickHouseServer) -> None:
    """Each scenario starts from a healthy system, whatever the one before left."""
    own_clickhouse.ensure_up()
    topology.ensure_healthy()


def link_id(database_url: str, slug: str) -> int:
    """The link's id, which analytics' internal API knows it by."""

    async def fetch() -> int:
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            return int(await connection.fetchval("SELECT id FROM links WHERE slug = $1", slug))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def ask(topology: Topology, slug: str, link: int, call: str) -> Outcome:
    """A read of clicks that needs ClickHouse: a link's stats or its visits, from the api (as a
    user asks, Surge's API or Shlink's) or from analytics' internal API (beyond the api's
    breaker, which soon answers for analytics)."""
    api, analytics, bearer = topology.api.url, topology.analytics.url, topology.key
    if call == "shlink-visits":
        secret = bearer["Authorization"].removeprefix("Bearer ")
        url = f"{api}/rest/v3/short-urls/{slug}/visits"
        return probe(call, url, headers={"X-Api-Key": secret})
    service, what = call.split("-")
    if service == "api":
        return probe(call, f"{api}/api/v1/links/{slug}/{what}", headers=bearer)
    url = f"{analytics}/internal/analytics/links/{link}/{what}"
    return probe(call, url, headers=INTERNAL_TOKEN)


CALLS = ("api-stats", "api-visits", "shlink-visits", "analytics-stats", "analytics-visits")


class ClickStream:
    """The click stream as analytics' consumer group has it (sync redis-py, from the test)."""

    def __init__(self, prefix: str) -> None:
        self.redis = Redis.from_url(REDIS_URL, decode_responses=True)
        self.name = RedisNames(prefix).clicks

    def _group(self) -> dict[str, Any]:
        groups: list[dict[str, Any]] = self.redis.xinfo_groups(self.name)
        return next(g for g in groups if g["name"] == "analytics")

    def backlog(self) -> int:
        """Entries (each a batch of a replica's clicks) not acknowledged: delivered and
        pending, or not delivered yet."""
        group = self._group()
        return int(group["pending"]) + int(group.get("lag") or 0)

    def last_id(self) -> str:
        return str(self.redis.xinfo_stream(self.name)["last-generated-id"])

    def acknowledged_through(self, entry_id: str) -> bool:
        """Whether every entry up to `entry_id` is acknowledged: stored, and counted."""
        through = entry_key(entry_id)
        if entry_key(self._group()["last-delivered-id"]) < through:
            return False
        pending = self.redis.xpending(self.name, "analytics")
        return not pending["pending"] or entry_key(pending["min"]) > through

    def close(self) -> None:
        self.redis.close()


def analytics_metrics(topology: Topology) -> dict[str, float]:
    """Analytics' /metrics, as operators see them: each sample's value summed over its labels."""
    text = httpx.get(f"{topology.analytics.url}/metrics").text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name] = found.get(sample.name, 0.0) + sample.value
    return found


def clickhouse_errors(topology: Topology) -> int:
    """Analytics' failed requests to ClickHouse so far."""
    return int(analytics_metrics(topology).get("surge_clickhouse_errors_total", 0))


def backlog_shown(topology: Topology) -> int:
    """The click stream's backlog as analytics' gauges say it (entries pending or not yet
    delivered): what the alerts on the stream read."""
    found = analytics_metrics(topology)
    return int(found["surge_click_stream_pending"] + found["surge_click_stream_lag"])


def entry_key(entry_id: str) -> tuple[int, int]:
    milliseconds, sequence = entry_id.split("-")
    return int(milliseconds), int(sequence)


def test_clickhouse_killed_then_hung(
    topology: Topology,
    own_clickhouse: ClickHouseServer,
    shared_database: str,
    shared_redis_prefix: str,
    request: pytest.FixtureRequest,
) -> None:
    slug = topology.new_link()
    link = link_id(shared_database, slug)
    errors_before = clickhouse_errors(topology)
    answers: list[Outcome] = []
    stream = ClickStream(shared_redis_prefix)
    request.addfinalizer(stream.close)

    def ask_round() -> list[Outcome]:
        """Every call at once, as many users would."""
        with ThreadPoolExecutor(len(CALLS)) as pool:
            return list(pool.map(lambda call: ask(topology, slug, link, call), CALLS))

    def ask_until(offset_s: float) -> None:
        """Rounds of every call, at least one however long the fault took to inject."""
        while True:
            answers.extend(ask_round())
            if time.monotonic() >= load.started + offset_s:
                return
            time.sleep(0.2)

    with Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        faulted = time.monotonic()
        own_clickhouse.kill()  # the port closed, connections reset: refused at once
        ask_until(FAULT_AT_S + FAULT_S / 2)
        killed_answers = len(answers)
        own_clickhouse.start()
        own_clickhouse.pause()  # SIGSTOP: connections accepted, nothing answers
        ask_until(FAULT_AT_S + FAULT_S)
        # Operators see the clicks waiting: the consumer measures the stream every few seconds
        # however its rounds fail (at most its longest retry backoff, 5 s, apart).
        waiting = stream.backlog()
        wait_until(
            lambda: backlog_shown(topology) >= waiting // 2,
            timeout_s=10,
            what=f"analytics' stream gauges to show half the {waiting} entries waiting",
            interval_s=0.2,
        )
        shown = backlog_shown(topology)
        backlog, waiting_through = stream.backlog(), stream.last_id()
        healed = time.monotonic()
        own_clickhouse.resume()
        # Back: the clicks that waited are stored (acknowledged), stats and visits answer.
        wait_until(
            lambda: stream.acknowledged_through(waiting_through),
            timeout_s=30,
            what="the clicks that waited in the stream to be stored",
        )
        ingested_s = time.monotonic() - healed

        def answering() -> bool:
            return all(answer.ok for answer in ask_round())

        wait_until(answering, timeout_s=30, what="stats and visits to answer", interval_s=0.2)
        recovery_s = time.monotonic() - healed
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    errors = clickhouse_errors(topology) - errors_before
    during = between(load.outcomes, faulted, healed)
    p99 = percentile((o.latency_s for o in during), 99)
    before = percentile((o.latency_s for o in between(load.outcomes, 0, faulted)), 99)
    unavailable = [
        a
        for a in answers
        if a.status == 503
        and a.content_type == PROBLEM_JSON
        and a.retry_after
        and a.latency_s < ANSWER_S
    ]
    notes = {
        "p99 faulted": ms(p99),
        "p99 before": ms(before),
        "503": f"{len(unavailable)}/{len(answers)} ({killed_answers} killed)",
        "slowest 503": ms(max((a.latency_s for a in unavailable), default=0)),
        "stream backlog": f"{backlog} entries",
        "gauges": f"{shown} entries",
        "stored again": f"{ingested_s:.2f}s",
        "clickhouse errors": str(errors),
    }
    Summary("clickhouse-killed-hung", load.outcomes, sent, counted, recovery_s, notes).emit()

    assert not not_ok(load.outcomes), describe(not_ok(load.outcomes))
    assert p99 < latency_bound(REDIRECT_P99_S, before, 3), f"p99 {ms(p99)} over {len(during)}"
    assert errors > 0, "the outage is not in surge_clickhouse_errors_total"
    assert unavailable == answers, describe([a for a in answers if a not in unavailable])
    assert counted == sent
