"""Redis and PostgreSQL fail under load. Both are this module's own servers, so stopping and
hanging them disturbs nobody else; api, two redirect replicas and analytics run on them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.chaos.faults import PostgresCluster, RedisServer, wait_until
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
from tests.chaos.topology import Topology
from tests.helpers import PROBLEM_JSON

pytestmark = pytest.mark.chaos

HUNG_REDIS_P99_S = 0.050
# With its database refusing connections the api must say so at once, well within its own
# database timeout (SURGE_DB_TIMEOUT_S, 5 s): an answer, not a hang.
API_ANSWER_S = 2.0


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory, own_redis: RedisServer, own_postgres: PostgresCluster
) -> Iterator[Topology]:
    with Topology(
        tmp_path_factory.mktemp("surge"),
        database_url=own_postgres.url(),
        redis_url=own_redis.url,
        redis_prefix="surge-chaos:",
    ) as topology:
        yield topology


@pytest.fixture(autouse=True)
def healthy(topology: Topology, own_redis: RedisServer, own_postgres: PostgresCluster) -> None:
    """Each scenario starts from a healthy system, whatever the one before left."""
    own_redis.ensure_up()
    own_postgres.ensure_up()
    topology.ensure_healthy()


def test_redis_stopped(topology: Topology, own_redis: RedisServer) -> None:
    slug = topology.new_link()
    with Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        own_redis.stop()
        load.at(FAULT_AT_S + FAULT_S)
        spooled = topology.spooled_bytes()
        healed = time.monotonic()
        own_redis.start()
        wait_until(lambda: topology.spooled_bytes() == 0, timeout_s=30, what="spools to drain")
        recovery_s = time.monotonic() - healed
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    Summary(
        "redis-stopped", load.outcomes, sent, counted, recovery_s, {"spooled": f"{spooled}B"}
    ).emit()

    assert not not_ok(load.outcomes), describe(not_ok(load.outcomes))
    assert counted == sent


def test_redis_hung(topology: Topology, own_redis: RedisServer) -> None:
    slug = topology.new_link()
    with Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        own_redis.pause()  # SIGSTOP: connections stay open, nothing answers
        hung_from = time.monotonic()
        load.at(FAULT_AT_S + FAULT_S)
        healed = time.monotonic()
        own_redis.resume()
        wait_until(lambda: topology.spooled_bytes() == 0, timeout_s=30, what="spools to drain")
        recovery_s = time.monotonic() - healed
    during = between(load.outcomes, hung_from, healed)
    p99 = percentile((o.latency_s for o in during), 99)
    before = percentile((o.latency_s for o in between(load.outcomes, 0, hung_from)), 99)
    bound = latency_bound(HUNG_REDIS_P99_S, before, 3)
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    notes = {"p99 hung": ms(p99), "p99 before": ms(before)}
    Summary("redis-hung", load.outcomes, sent, counted, recovery_s, notes).emit()

    assert not not_ok(load.outcomes), describe(not_ok(load.outcomes))
    assert p99 < bound, f"p99 {ms(p99)} over {len(during)} redirects while Redis hung"
    assert counted == sent


def call_api(topology: Topology, slug: str, call: str) -> Outcome:
    """One of the api's calls that need the database: read a link, create one, its stats."""
    api, key = topology.api.url, topology.key
    if call == "create":
        return probe(
            call, f"{api}/api/v1/links", method="POST", json={"url": "https://e.com/"}, headers=key
        )
    return probe(
        call, f"{api}/api/v1/links/{slug}" + ("/stats" if call == "stats" else ""), headers=key
    )


def test_postgres_stopped(topology: Topology, own_postgres: PostgresCluster) -> None:
    slug = topology.new_link()
    calls = ("read", "create", "stats")
    answers: list[Outcome] = []
    with Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        own_postgres.stop()
        while time.monotonic() < load.started + FAULT_AT_S + FAULT_S:
            answers.append(call_api(topology, slug, calls[len(answers) % len(calls)]))
            time.sleep(0.2)
        healed = time.monotonic()
        own_postgres.start()

        def recovered() -> bool:
            back = all(call_api(topology, slug, call).ok for call in ("read", "stats"))
            return back and all(topology.ready(s) for s in (topology.api, topology.analytics))

        wait_until(recovered, timeout_s=30, what="the api and analytics to recover", interval_s=0.2)
        recovery_s = time.monotonic() - healed
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    unavailable = [
        a
        for a in answers
        if a.status == 503
        and a.content_type == PROBLEM_JSON
        and a.retry_after
        and a.latency_s < API_ANSWER_S
    ]
    notes = {"api 503": f"{len(unavailable)}/{len(answers)}"}
    Summary("postgres-stopped", load.outcomes, sent, counted, recovery_s, notes).emit()

    assert not not_ok(load.outcomes), describe(not_ok(load.outcomes))
    assert answers, "no api call was made during the outage"
    assert unavailable == answers, describe([a for a in answers if a not in unavailable])
    assert counted == sent
