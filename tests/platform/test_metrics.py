"""`GET /metrics`: after a scripted set of requests, the exposition parses and every counter
moved by exactly what the requests did (deltas: the registry is the process's, shared with
the other tests)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from surge import __version__
from surge.platform.db_metrics import MAX_FINGERPRINTS, StatementTimer, fingerprint
from surge.platform.metrics import HTTP_DURATION, LATENCY_BUCKETS, RequestTally
from surge.redirect import app as redirect_app
from tests.conftest import Surge
from tests.helpers import wait_for

Sample = tuple[str, frozenset[tuple[str, str]]]


async def scrape(client: httpx.AsyncClient) -> dict[Sample, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(after: Mapping[Sample, float], before: Mapping[Sample, float], name: str, **labels: str):
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_counters_hold_exactly_what_the_requests_did(surge: Surge) -> None:
    headers = await surge.new_key()
    before = await scrape(surge.client)
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com/m"}, headers=headers
    )
    assert created.status_code == 201
    slug = created.json()["slug"]
    for _ in range(7):
        assert (await surge.client.get(f"/{slug}")).status_code == 302
    for _ in range(2):
        assert (await surge.client.get("/no-such-slug")).status_code == 404
    assert (await surge.client.head(f"/{slug}")).status_code == 302
    await surge.flush_clicks()
    after: dict[Sample, float] = {}

    async def all_ingested() -> bool:
        # The flusher may hold a batch in flight that flush_clicks() did not wait for.
        after.update(await scrape(surge.client))
        return delta(after, before, "surge_clicks_ingested_total") >= 9

    await wait_for(all_ingested, what="7 clicks and 2 orphan visits ingested")

    def moved(name: str, **labels: str) -> float:
        return delta(after, before, name, **labels)

    redirect = {"service": "redirect", "route": "/{slug}"}
    assert moved("surge_http_requests_total", **redirect, method="GET", status="302") == 7
    assert moved("surge_http_requests_total", **redirect, method="GET", status="404") == 2
    assert moved("surge_http_requests_total", **redirect, method="HEAD", status="302") == 1
    assert moved("surge_http_request_duration_seconds_count", **redirect, method="GET") == 9
    assert (
        moved("surge_http_request_duration_seconds_bucket", **redirect, method="GET", le="+Inf")
        == 9
    )
    api_create = {"service": "api", "route": "/api/v1/links", "method": "POST", "status": "201"}
    assert moved("surge_http_requests_total", **api_create) == 1
    # One miss per slug, then hits: the link's 7 GETs and 1 HEAD, the unknown slug's second ask.
    assert moved("surge_cache_lookups_total", tier="local", outcome="miss") == 2
    assert moved("surge_cache_lookups_total", tier="local", outcome="hit") == 7
    assert moved("surge_cache_lookups_total", tier="local", outcome="negative") == 1
    # The pipeline carries the 7 clicks and the unknown slug's 2 orphan visits alike.
    assert moved("surge_clicks_recorded_total") == 9
    assert moved("surge_clicks_flushed_total") == 9
    assert moved("surge_clicks_ingested_total") == 9
    assert moved("surge_clicks_duplicates_total") == 0
    assert after[("surge_clicks_buffered", frozenset())] == 0
    for service in ("api", "redirect", "analytics"):
        labels = {"service": service, "version": __version__, "commit": "unknown"}
        assert after[("surge_build_info", frozenset(labels.items()))] == 1
    assert after[("surge_loop_running", frozenset({("loop", "click-flusher")}))] >= 1
    statements = {
        dict(labels)["statement"]
        for (name, labels) in after
        if name == "surge_db_statement_duration_seconds_count" and ("service", "api") in labels
    }
    assert any(re.fullmatch(r"insert links [0-9a-f]{8}", s) for s in statements), statements


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_redirect_samples_are_folded_without_a_scrape(surge: Surge) -> None:
    """A redirect only appends its duration; where nothing scrapes /metrics, the redirect
    itself folds them every second (FOLD_EVERY_S), so they are held no longer than that."""
    headers = await surge.new_key()
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com/f"}, headers=headers
    )
    slug = created.json()["slug"]
    for _ in range(3):
        assert (await surge.client.get(f"/{slug}")).status_code == 302
    samples = surge.redirect.get_samples[302]
    row = surge.redirect.tally.row("/{slug}", "GET", 302)

    async def folded() -> bool:
        return not samples and sum(row[:-1]) == 3

    await wait_for(folded, timeout_s=3 * redirect_app.FOLD_EVERY_S, what="samples folded")


@pytest.mark.parametrize("backend", ["production"], indirect=True)
async def test_the_shared_tier_counts_its_lookups(surge: Surge) -> None:
    headers = await surge.new_key()
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com/r"}, headers=headers
    )
    before = await scrape(surge.client)
    assert (await surge.client.get(f"/{created.json()['slug']}")).status_code == 302
    assert (await surge.client.get("/never-made")).status_code == 404
    after = await scrape(surge.client)
    # The api wrote the new link into Redis: the replica finds it there, not at the api.
    assert delta(after, before, "surge_cache_lookups_total", tier="redis", outcome="hit") == 1
    assert delta(after, before, "surge_cache_lookups_total", tier="redis", outcome="miss") == 1
    assert delta(after, before, "surge_cache_lookups_total", tier="api", outcome="negative") == 1
    assert delta(after, before, "surge_cache_lookups_total", tier="api", outcome="hit") == 0


def test_a_tally_publishes_what_the_library_would_have_recorded() -> None:
    durations = [0.0001, 0.0005, 0.0007, 0.003, 0.05, 0.2, 12.0]
    direct = Histogram("direct_seconds", "d", ["route"], buckets=LATENCY_BUCKETS, registry=None)
    tally = RequestTally("probe")
    row = tally.row("/r", "GET", 200)
    for seconds in durations:
        direct.labels("/r").observe(seconds)
        tally.observe("/r", "GET", 200, seconds)
    tally.publish()

    published = HTTP_DURATION.labels("probe", "/r", "GET")
    assert [b.get() for b in published._buckets] == [b.get() for b in direct.labels("/r")._buckets]
    assert published._sum.get() == pytest.approx(sum(durations))
    assert row == [0.0] * len(row)  # published once, not again


@pytest.mark.parametrize(
    "durations",
    [[0.000003, 0.0004, 0.0005], [0.0001, 0.0005, 0.0007, 0.003, 0.05, 0.2, 12.0, 10.0, 0.0001]],
    ids=["all-in-the-first-bucket", "spread"],
)
def test_samples_publish_what_the_library_would_have_recorded(durations: list[float]) -> None:
    """The cached redirect's samples (appended, bucketed at publish) come out as observations
    would: each bucket's bound inclusive, past the last one +Inf."""
    direct = Histogram("direct_seconds", "d", ["route"], buckets=LATENCY_BUCKETS, registry=None)
    tally = RequestTally("probe-samples")
    samples = tally.samples("/s", "GET", 302)
    for seconds in durations:
        direct.labels("/s").observe(seconds)
        samples.append(seconds)
    tally.publish()

    published = HTTP_DURATION.labels("probe-samples", "/s", "GET")
    assert [b.get() for b in published._buckets] == [b.get() for b in direct.labels("/s")._buckets]
    assert published._sum.get() == pytest.approx(sum(durations))
    assert samples == []
    HTTP_DURATION.remove("probe-samples", "/s", "GET")


def test_statement_fingerprints_ignore_parameter_lists_and_stay_bounded() -> None:
    one = fingerprint("SELECT links.id FROM links WHERE links.slug IN ($1, $2)")
    three = fingerprint("SELECT links.id\n  FROM links WHERE links.slug IN ($1, $2, $3)")
    assert one == three
    assert re.fullmatch(r"select links [0-9a-f]{8}", one)
    assert fingerprint("INSERT INTO clicks (a) VALUES (?), (?), (?)") == fingerprint(
        "INSERT INTO clicks (a) VALUES (?)"
    )
    timer = StatementTimer("probe")
    names = {timer.name(f"SELECT {n} FROM t{n}") for n in range(MAX_FINGERPRINTS + 50)}
    assert len(names) == MAX_FINGERPRINTS + 1
    assert "other" in names


WORKER = """
import asyncio, sys
from surge.platform.metrics import RequestTally, service_started

async def main() -> None:
    tally = RequestTally("redirect")
    service_started("redirect", "abc", tally)
    for _ in range(int(sys.argv[1])):
        tally.observe("/{slug}", "GET", 302, 0.0002)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until released

asyncio.run(main())
"""


async def test_worker_processes_publish_into_one_sum(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, what each worker process counted reaches the shared
    exposition without a scrape of that process (a scrape reaches only one of them)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(n)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for n in (3, 4)
    ]
    try:

        async def summed() -> bool:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(tmp_path))
            try:
                value = registry.get_sample_value(
                    "surge_http_requests_total",
                    {"service": "redirect", "route": "/{slug}", "method": "GET", "status": "302"},
                )
            except struct.error:  # a worker's file just created, still empty: not yet
                return False
            return value == 7

        await wait_for(summed, what="both workers' 3 + 4 requests in the shared exposition")
    finally:
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.close()
        for worker in workers:
            worker.wait(timeout=10)
    assert [w.returncode for w in workers] == [0, 0]
