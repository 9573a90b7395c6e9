"""The measured rounds (bare, surge, bare, surge...) and, after them, the wait for the clicks
Surge's redirect served to be counted by analytics."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from .budget import CLEANUP_RESERVE_S, BenchError, Budget
from .load import Config, Load, generate_load
from .processes import Server, foreign_cpu_seconds, own_pids, paused, tree_cpu_seconds
from .systems import SLUG, Surge

CLICKS_TIMEOUT_S = 30.0
CLICKS_STABLE_S = 5.0  # a backlogged flusher posts up to 5,000 events at once: allow slow gaps


@dataclass
class Run:
    round: int
    target: str
    warmup_requests: int
    load: Load
    server_cores: float | None  # CPU the server under test used: ~1.0 means it was saturated
    other_cores: float | None  # CPU used by processes not the bench's own: noise


def measured_run(
    server: Server, url: str, config: Config, surge: Surge, servers: Sequence[Server]
) -> tuple[Load, float | None, float | None]:
    """One measured run; also the CPU the server used and what other processes took meanwhile
    (wrk is started and reaped in between, so it never shows up as foreign)."""
    ours, pid = own_pids(servers), server.process.pid
    with paused(surge.analytics):
        server_before, foreign_before = tree_cpu_seconds(pid), foreign_cpu_seconds(ours)
        start = time.monotonic()
        load = generate_load(url, config.duration_s, config)
        seconds = time.monotonic() - start
        server_after, foreign_after = tree_cpu_seconds(pid), foreign_cpu_seconds(ours)
    server_cores = None
    if server_before is not None and server_after is not None:
        server_cores = round((server_after - server_before) / seconds, 2)
    other_cores = None
    if foreign_before is not None and foreign_after is not None:
        # A process started during the run counts in full; one that ended during it is missed.
        spent = sum(t - foreign_before.get(pid, 0.0) for pid, t in foreign_after.items())
        other_cores = round(max(0.0, spent) / seconds, 2)
    return load, server_cores, other_cores


def measure(
    targets: dict[str, tuple[Server, str]],
    surge: Surge,
    servers: Sequence[Server],
    config: Config,
    budget: Budget,
) -> list[Run]:
    runs: list[Run] = []
    for number in range(1, config.rounds + 1):
        for target, (server, url) in targets.items():
            budget.require(config.warmup_s + config.duration_s + 5, f"round {number} {target}")
            # Discarded: opens the connections and gives analytics time to catch up.
            warmup = generate_load(url, config.warmup_s, config)
            load, server_cores, other_cores = measured_run(server, url, config, surge, servers)
            runs.append(Run(number, target, warmup.requests, load, server_cores, other_cores))
            print(
                f"  round {number} {target:<5} {load.rps:>10,.0f} req/s  p99 {load.p99_ms:7.2f} ms",
                flush=True,
            )
    return runs


@dataclass
class Clicks:
    sent: int
    total: int
    bot_clicks: int
    waited_s: float
    ingest_per_s: float  # how fast the count grew while we waited


_RECORDED = re.compile(r"^surge_clicks_recorded_total (\S+)$", re.MULTILINE)


def clicks_recorded(server: Server) -> int:
    """The clicks a redirect process recorded (its surge_clicks_recorded counter): one per 302
    it sent, including those wrk stopped waiting for when its run ended."""
    found = _RECORDED.search(httpx.get(f"{server.url}/metrics", timeout=10.0).text)
    if found is None:
        raise BenchError(f"{server.name}'s /metrics has no surge_clicks_recorded_total")
    return int(float(found.group(1)))


def fetch_counts(client: httpx.Client, surge: Surge) -> tuple[int, int] | None:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        response = client.get(f"{surge.api.url}/api/v1/links/{SLUG}/stats")
        if response.status_code == 200:
            body = response.json()
            return int(body["total"]), int(body["bot_clicks"])
    return None


def wait_for_clicks(
    surge: Surge,
    sent: int,
    budget: Budget,
    *,
    timeout_s: float = CLICKS_TIMEOUT_S,
    stable_s: float = CLICKS_STABLE_S,
) -> Clicks:
    """Poll the stats until every click is in, or the count stops growing for `stable_s`, or
    `timeout_s` is up."""
    start = time.monotonic()
    deadline = start + max(0.0, min(timeout_s, budget.remaining() - CLEANUP_RESERVE_S))
    headers = {"authorization": f"Bearer {surge.key}"}
    first: int | None = None
    counts, changed = (0, 0), start
    with httpx.Client(headers=headers, timeout=10.0) as client:
        while True:
            latest = fetch_counts(client, surge)
            now = time.monotonic()
            if latest is not None and first is None:
                first = sum(latest)
            if latest is not None and latest != counts:
                counts, changed = latest, now
            if sum(counts) >= sent or now - changed >= stable_s or now >= deadline:
                break
            time.sleep(0.5)
    waited = time.monotonic() - start
    rate = (sum(counts) - (first or 0)) / waited if waited > 0 else 0.0
    return Clicks(sent, counts[0], counts[1], round(waited, 2), round(rate))


def settled(
    read: Callable[[], int | None],
    at_least: int,
    budget: Budget,
    quiet_s: float,
    timeout_s: float,
    what: str,
) -> int:
    """`read()`'s count once it is at least `at_least` and has not changed for `quiet_s`: all
    that was served is counted and nothing is left in flight. `read` returns None (or raises
    httpx.HTTPError) while there is no count to read."""
    start = time.monotonic()
    deadline = start + min(timeout_s, budget.remaining() - CLEANUP_RESERVE_S)
    count, changed = -1, start
    while True:
        latest = None
        with contextlib.suppress(httpx.HTTPError):
            latest = read()
        now = time.monotonic()
        if latest is not None and latest != count:
            count, changed = latest, now
        elif count >= at_least and now - changed >= quiet_s:
            return count
        if now > deadline:
            raise BenchError(
                f"{what} stayed at {count:,} for {now - start:.0f}s, expected at least {at_least:,}"
            )
        time.sleep(0.2)
