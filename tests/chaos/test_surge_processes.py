"""Surge's own processes fail under load: the api killed, an analytics consumer killed, a
redirect replica terminated (a rolling deploy), a replica overloaded. PostgreSQL and Redis are
the machine's shared ones (a database and a key prefix of this module's own): nothing here
stops them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from tests.chaos.faults import wait_until
from tests.chaos.load import (
    FAULT_AT_S,
    FAULT_S,
    LOAD_S,
    RATE,
    Load,
    Outcome,
    Summary,
    Traffic,
    between,
    describe,
    latency_bound,
    ms,
    not_ok,
    percentile,
    probe,
    redirects_answered,
)
from tests.chaos.topology import INTERNAL_TIMEOUT_S, Topology, unknown_slugs
from tests.helpers import PROBLEM_JSON
from tests.services import REDIS_URL

pytestmark = pytest.mark.chaos

MISS_RATE = 5.0  # unknown slugs per second on each replica
# A slug the replica cannot look up answers 503 within the api call's timeout (and a margin
# for the answer's way back).
MISS_ANSWER_S = INTERNAL_TIMEOUT_S + 0.25
# Overload: clients that ask again as soon as answered, on one replica admitting 8 requests
# in flight. Only a request that waits on a dependency is in flight (a cached redirect never
# is), so most clients flood it with slugs nobody has: each waits on Redis and the api. (At 32,
# a load driver short of CPU kept the replica under its limit whenever the probes asked.)
MAX_IN_FLIGHT = 8
HOT_CLIENTS, FLOOD_CLIENTS = 16, 80
OVERLOAD_S = 12.0
MISSES_PER_ROUND = 5
CLIENT_TIMEOUT_S = 5.0
# As the test's own probes measure it: not queued behind the load driver's 96 clients.
ACCEPTED_P99_S = 1.0
# Each bound above, or this many times the same probe before the overload in the same run,
# whichever is larger: a machine short of CPU slows both (tests/chaos/load.py latency_bound).
SLOWER_THAN_IDLE = 10
# Fast: a shed request must not have waited on the api (its calls time out after 1 s).
SHED_P99_S = INTERNAL_TIMEOUT_S / 2
HEALTHZ_S = 0.5  # half the usual timeout of a liveness probe


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory, shared_database: str, shared_redis_prefix: str
) -> Iterator[Topology]:
    with Topology(
        tmp_path_factory.mktemp("surge"),
        database_url=shared_database,
        redis_url=REDIS_URL,
        redis_prefix=shared_redis_prefix,
    ) as topology:
        yield topology


@pytest.fixture(autouse=True)
def healthy(topology: Topology) -> None:
    """Each scenario starts from a healthy system, whatever the one before left."""
    topology.ensure_healthy()


def test_api_killed(topology: Topology) -> None:
    slug = topology.new_link()
    misses = [
        Traffic(f"miss r{i}", unknown_slugs(replica.url), frozenset({404, 503}), rate=MISS_RATE)
        for i, replica in enumerate(topology.redirects)
    ]
    with Load([*topology.traffic(slug, RATE), *misses], LOAD_S) as load:
        load.at(FAULT_AT_S)
        topology.api.crash()
        killed = time.monotonic()
        load.at(FAULT_AT_S + FAULT_S)
        healed = time.monotonic()
        topology.restart_api()
        miss = unknown_slugs(topology.redirects[0].url)
        wait_until(
            lambda: probe("miss", miss(), expected=(404,)).ok,
            timeout_s=30,
            what="an unknown slug to answer 404 again",
        )
        recovery_s = time.monotonic() - healed
    missed = [o for o in between(load.outcomes, killed, healed) if o.kind.startswith("miss")]
    unavailable = [
        o
        for o in missed
        if o.status == 503
        and o.content_type == PROBLEM_JSON
        and o.retry_after
        and o.latency_s < MISS_ANSWER_S
    ]
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    notes = {"misses 503": f"{len(unavailable)}/{len(missed)}"}
    Summary("api-killed", load.outcomes, sent, counted, recovery_s, notes).emit()

    cached = [o for o in load.outcomes if not o.kind.startswith("miss")]
    assert not not_ok(cached), describe(not_ok(cached))
    assert missed, "no unknown slug was asked for while the api was down"
    assert unavailable == missed, describe([o for o in missed if o not in unavailable])


def pending_of(redis: Redis, prefix: str, pid: int) -> int:
    """Stream entries delivered to the consumer of process `pid` and not acknowledged."""
    summary: Any = redis.xpending(f"{prefix}clicks", "analytics")
    name = f"{socket.gethostname()}-{pid}".encode()
    return sum(int(c["pending"]) for c in summary["consumers"] if c["name"] == name)


def test_analytics_consumer_killed(topology: Topology) -> None:
    slug = topology.new_link()
    prefix = topology.env["SURGE_REDIS_PREFIX"]
    with Redis.from_url(REDIS_URL) as redis, Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        dead = topology.analytics
        dead_pid = dead.app_pid  # the consumer's name carries the pid of the process it runs in
        # Killed holding a batch if it can be caught with one (mostly it waits between them):
        # what it held stays pending in the group, for the next consumer to claim.
        deadline = time.monotonic() + 2.0
        while pending_of(redis, prefix, dead_pid) == 0 and time.monotonic() < deadline:
            pass
        dead.crash()
        held = pending_of(redis, prefix, dead_pid)
        load.at(FAULT_AT_S + FAULT_S)
        healed = time.monotonic()
        topology.restart_analytics()
        wait_until(
            lambda: pending_of(redis, prefix, dead_pid) == 0,
            timeout_s=30,
            what="the killed consumer's entries to be claimed",
        )
        recovery_s = time.monotonic() - healed
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    notes = {"entries held at the kill": str(held)}
    Summary("analytics-killed", load.outcomes, sent, counted, recovery_s, notes).emit()

    assert not not_ok(load.outcomes), describe(not_ok(load.outcomes))
    assert counted == sent


def test_redirect_replica_terminated(topology: Topology) -> None:
    slug = topology.new_link()
    leaving = topology.redirects[1]
    with Load(topology.traffic(slug, RATE), LOAD_S) as load:
        load.at(FAULT_AT_S)
        terminated = time.monotonic()
        clean = leaving.stop()  # SIGTERM, and wait for its graceful exit
        healed = time.monotonic()
        topology.replace_redirect(1)  # the new version on the same port, ready
        recovery_s = time.monotonic() - healed
    staying = [o for o in load.outcomes if o.kind == "r0"]
    sent = topology.warmup_clicks + redirects_answered(load.outcomes)
    counted = topology.wait_for_clicks(slug, sent)
    notes = {
        "exit on SIGTERM": f"{healed - terminated:.2f}s",
        "failed on the other replica": str(len(not_ok(staying))),
    }
    Summary("redirect-sigterm", load.outcomes, sent, counted, recovery_s, notes).emit()

    assert clean, f"the replica did not exit cleanly on SIGTERM:\n{leaving.output()}"
    assert not not_ok(staying), describe(not_ok(staying))
    assert counted == sent


def test_overload_is_shed_fast(topology: Topology) -> None:
    topology.replace_redirect(1, SURGE_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT))
    try:
        slug = topology.new_link()
        target = topology.redirects[1]
        # A hot link, cached, and a flood of slugs nobody has: each of those waits on Redis
        # and the api, so requests pile up in flight far past what the replica admits.
        traffic = [
            Traffic("hot", f"{target.url}/{slug}", frozenset({302, 503}), None, HOT_CLIENTS),
            Traffic("flood", unknown_slugs(target.url), frozenset({404, 503}), None, FLOOD_CLIENTS),
        ]
        # Meanwhile the test asks too, one request at a time: what it waits is the server's
        # doing, not a queue in the load driver.
        health: list[Outcome] = []
        misses: list[Outcome] = []
        hots: list[Outcome] = []
        miss = unknown_slugs(target.url)
        hot = f"{target.url}/{slug}"

        def ask() -> None:
            health.append(probe("healthz", f"{target.url}/healthz"))
            # Whether a miss is shed depends on the replica's count in flight at the instant it
            # arrives; on a busy machine (the whole suite beside it) the flood's misses queue in
            # the socket rather than in flight, and one probe per round was sometimes never
            # shed. A few misses in a row, stopping at the first shed, see the limit at work.
            for _ in range(MISSES_PER_ROUND):
                misses.append(probe("miss", miss(), expected=(404, 503)))
                if misses[-1].status == 503:
                    break
            hots.append(probe("hot", hot, expected=(302, 503)))

        for _ in range(10):  # the same probes on the replica before the overload: the baseline
            ask()
        idle = {
            kind: percentile((o.latency_s for o in found), 100)
            for kind, found in (("healthz", health), ("miss", misses), ("hot", hots))
        }
        probe_clicks = redirects_answered(hots)
        for kept in (health, misses, hots):
            kept.clear()
        with Load(traffic, OVERLOAD_S, timeout_s=CLIENT_TIMEOUT_S) as load:
            load.at(1.0)  # the flood is under way
            while time.monotonic() < load.started + OVERLOAD_S - 0.5:
                ask()
                time.sleep(0.05)
        recovery_s = wait_until(
            lambda: probe("hot", f"{target.url}/{slug}", expected=(302,)).ok,
            timeout_s=30,
            what="the replica to redirect again",
        )
        probe_clicks += redirects_answered(hots) + 1  # and the one that saw it recover
        sent = topology.warmup_clicks + redirects_answered(load.outcomes) + probe_clicks
        counted = topology.wait_for_clicks(slug, sent)
    finally:
        topology.replace_redirect(1)  # back to the default limit for whoever comes next
    accepted = [o for o in [*load.outcomes, *hots] if o.status == 302]
    accepted_probes = [o for o in hots if o.status == 302]
    shed = [o for o in load.outcomes if o.status == 503]
    shed_right = [o for o in shed if o.content_type == PROBLEM_JSON and o.retry_after]
    # Shed misses as the test's own probes saw them. A shed answer waits on nothing, like
    # /healthz: its bound follows the idle /healthz on a slow machine, but never reaches the
    # api call's timeout (a shed that waited on the api would take that long).
    shed_probes = [o for o in misses if o.status == 503]
    shed_bound = min(
        INTERNAL_TIMEOUT_S, latency_bound(SHED_P99_S, idle["healthz"], SLOWER_THAN_IDLE)
    )
    accepted_p99 = percentile((o.latency_s for o in accepted_probes), 99)
    shed_p99 = percentile((o.latency_s for o in shed_probes), 99)
    slowest_health = max((o.latency_s for o in health), default=0.0)
    notes = {
        "503s": str(len(shed)),
        "accepted p99 (probes)": ms(accepted_p99),
        "shed p99 (probes)": ms(shed_p99),
        "slowest /healthz": ms(slowest_health),
        "idle probes": " ".join(f"{kind} {ms(s)}" for kind, s in idle.items()),
    }
    Summary("overload", load.outcomes, sent, counted, recovery_s, notes).emit()

    unanswered = [o for o in load.outcomes if o.status is None]
    assert not unanswered, describe(unanswered)
    assert shed, "nothing was shed: the replica was not overloaded"
    assert shed_right == shed, describe([o for o in shed if o not in shed_right])
    assert shed_probes, describe(misses)
    assert shed_p99 < shed_bound, describe(sorted(shed_probes, key=lambda o: -o.latency_s)[:10])
    assert accepted, "no redirect was accepted during the overload"
    accepted_bound = latency_bound(ACCEPTED_P99_S, idle["hot"], SLOWER_THAN_IDLE)
    assert accepted_p99 < accepted_bound, f"accepted p99 {ms(accepted_p99)}"
    assert health, "/healthz was never asked"
    assert all(o.ok for o in health), describe([o for o in health if not o.ok])
    # Nine in ten health checks within the bound: on a machine short of CPU the slowest of
    # dozens is the scheduler's doing (one took 0.80 s against a bound of 0.72 s there).
    health_bound = latency_bound(HEALTHZ_S, idle["healthz"], SLOWER_THAN_IDLE)
    health_p90 = percentile((o.latency_s for o in health), 90)
    slow_health = sorted(
        (o for o in health if o.latency_s >= health_bound), key=lambda o: -o.latency_s
    )
    assert health_p90 < health_bound, describe(slow_health)
