"""Surge's load test: Locust users and the one load shape, driven by `surge loadtest`.

`surge loadtest` seeds the links, writes the run's plan (surge.capacity.traffic.LoadPlan) and
starts Locust on this file with SURGE_LOADTEST_PLAN (the plan's path) and SURGE_LOADTEST_KEY (the
API key) in its environment. Run it through `surge loadtest`, which also bounds the run, reads
the results and gives the SLO verdict; see docs/capacity.md.

- Visitor: follows short links (never the redirect: a 3xx is the success), link popularity
  Zipf-like over the seeded links, browsers' user agents, referrers and countries, some bots.
  Paced at the plan's rate, except in a sweep, where each one sends its next request as soon as
  the last one is answered (closed loop: concurrency is the variable).
- Creator: creates a link, changes it, deletes it (one user, once the run has 3 users).
- Analyst: reads a link's stats (one user, likewise).
- ScenarioShape: how many of each, second by second, from the plan (steady, ramp, viral,
  sweep). In a viral run the extra visitors all follow one link, the least popular before.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from locust import FastHttpUser, LoadTestShape, User, constant, constant_throughput, events, task
from locust.env import Environment

from surge.capacity.traffic import (
    ANALYST,
    BOTS,
    BROWSERS,
    COUNTRIES,
    CREATOR,
    REFERRERS,
    VISITOR,
    LoadPlan,
    Stage,
    zipf_weights,
)

if "SURGE_LOADTEST_PLAN" not in os.environ:
    sys.exit("loadtests/locustfile.py runs under `surge loadtest` (SURGE_LOADTEST_PLAN is unset)")
PLAN = LoadPlan.from_file(Path(os.environ["SURGE_LOADTEST_PLAN"]))
AUTH = {"authorization": f"Bearer {os.environ.get('SURGE_LOADTEST_KEY', '')}"}
WEIGHTS = zipf_weights(len(PLAN.slugs))
LINK_NUMBERS = itertools.count()


class RunState:
    """What the shape decided last, read by every user on each request (one process, gevent)."""

    stage: Stage = Stage(1, 1.0, (VISITOR,))
    environment: Environment | None = None


USER_NUMBERS = itertools.count()


def _rng(user: User) -> random.Random:
    """Each user draws from its own generator seeded from the plan: a rerun with the same
    --seed sends the same sequence of links, agents and referrers per user."""
    number = next(USER_NUMBERS)
    user.number = number  # type: ignore[attr-defined]
    return random.Random(PLAN.seed * 1_000_003 + number)


def _expect(response: Any, statuses: range | tuple[int, ...]) -> None:
    if response.status_code in statuses:
        response.success()
    else:
        response.failure(f"HTTP {response.status_code}")


class Visitor(FastHttpUser):
    weight = 1
    wait_time = constant(0) if PLAN.scenario == "sweep" else constant_throughput(PLAN.visitor_rps)
    host = PLAN.hosts[0]

    def on_start(self) -> None:
        self.rng = _rng(self)

    def _headers(self) -> dict[str, str]:
        rng = self.rng
        agent = rng.choice(BOTS) if rng.random() < PLAN.bot_share else rng.choice(BROWSERS)
        headers = {"user-agent": agent}
        referrer, country = rng.choice(REFERRERS), rng.choice(COUNTRIES)
        if referrer:
            headers["referer"] = referrer
        if country:
            headers["cf-ipcountry"] = country
        return headers

    def _slug(self, multiplier: float) -> str:
        # During a viral burst the share of requests above the baseline goes to one link.
        if multiplier > 1.0 and self.rng.random() < 1.0 - 1.0 / multiplier:
            return PLAN.viral_slug
        return self.rng.choices(PLAN.slugs, cum_weights=WEIGHTS)[0]

    @task
    def follow(self) -> None:
        stage = RunState.stage
        host = PLAN.hosts[self.number % max(1, stage.replicas)]
        with self.client.get(
            f"{host}/{self._slug(stage.multiplier)}",
            name="/{slug}",
            headers=self._headers(),
            allow_redirects=False,  # the target is someone else's site: never follow it
            catch_response=True,
        ) as response:
            _expect(response, range(300, 400))


class Creator(FastHttpUser):
    fixed_count = 1
    wait_time = constant_throughput(0.5)  # a link every 2 s: create, change, delete
    host = PLAN.api_url

    def on_start(self) -> None:
        self.rng = _rng(self)

    @task
    def create_change_delete(self) -> None:
        slug = f"{PLAN.run_id}-c{next(LINK_NUMBERS)}"
        link = f"{PLAN.api_url}/api/v1/links/{slug}"
        body = {"url": f"https://example.com/created/{slug}", "slug": slug, "tags": ["loadtest"]}
        with self.client.post(
            f"{PLAN.api_url}/api/v1/links",
            name="/api/v1/links",
            json=body,
            headers=AUTH,
            catch_response=True,
        ) as response:
            _expect(response, (201,))
            if response.status_code != 201:
                return
        with self.client.patch(
            link,
            name="/api/v1/links/{slug}",
            json={"url": f"https://example.com/changed/{slug}"},
            headers=AUTH,
            catch_response=True,
        ) as response:
            _expect(response, (200,))
        with self.client.delete(
            link, name="/api/v1/links/{slug}", headers=AUTH, catch_response=True
        ) as response:
            _expect(response, (204,))


class Analyst(FastHttpUser):
    fixed_count = 1
    wait_time = constant_throughput(1.0)
    host = PLAN.api_url

    def on_start(self) -> None:
        self.rng = _rng(self)

    @task
    def read_stats(self) -> None:
        slug = self.rng.choices(PLAN.slugs, cum_weights=WEIGHTS)[0]
        with self.client.get(
            f"{PLAN.api_url}/api/v1/links/{slug}/stats",
            name="/api/v1/links/{slug}/stats",
            headers=AUTH,
            catch_response=True,
        ) as response:
            _expect(response, (200,))


CLASSES: dict[str, type[User]] = {VISITOR: Visitor, CREATOR: Creator, ANALYST: Analyst}


class ScenarioShape(LoadTestShape):
    def tick(self) -> tuple[int, float, list[type[User]]] | None:
        now = self.get_run_time()
        stage = PLAN.stage_at(now)
        MEASUREMENTS.tick(now)
        if stage is None:
            return None
        RunState.stage = stage
        return stage.users, stage.spawn_rate, [CLASSES[name] for name in stage.classes]


class Measurements:
    """Each sweep step's requests, counted from the end of its settling time to its end, the
    CPU this Locust process used (near 1 core, the load generator is what saturated) and, with
    --server-pid, the server's."""

    def __init__(self) -> None:
        self.times: dict[int, list[float]] = {step.index: [] for step in PLAN.steps}
        self.failures: dict[int, int] = dict.fromkeys(self.times, 0)
        # (own CPU s, server CPU s, wall s) samples, a few per step
        self.cpu: dict[int, list[tuple[float, float, float]]] = {i: [] for i in self.times}
        self.started: tuple[float, float] | None = None  # at the first tick: the run's start
        self.server = psutil.Process(PLAN.server_pid) if PLAN.server_pid else None

    def server_cpu(self) -> float:
        if self.server is None:
            return 0.0
        try:
            times = self.server.cpu_times()
        except psutil.Error:  # the server went away: its figures stop here
            self.server = None
            return 0.0
        return float(times.user + times.system)

    def step_at(self, t: float) -> int | None:
        for step in PLAN.steps:
            if step.measure_from_s <= t < step.end_s:
                return step.index
        return None

    def request(self, response_time: float, exception: BaseException | None) -> None:
        env = RunState.environment
        if env is None or env.shape_class is None:
            return
        index = self.step_at(env.shape_class.get_run_time())
        if index is None:
            return
        if exception is None:
            self.times[index].append(response_time)
        else:
            self.failures[index] += 1

    def tick(self, t: float) -> None:
        if self.started is None:
            self.started = (time.process_time(), time.perf_counter())
        for step in PLAN.steps:
            # A sample each tick inside the window (ticks are ~1 s apart).
            if step.measure_from_s <= t < step.end_s + 1:
                sample = (time.process_time(), self.server_cpu(), time.perf_counter())
                self.cpu[step.index].append(sample)

    def summary(self) -> dict[str, Any]:
        cpu, wall = time.process_time(), time.perf_counter()
        steps = []
        for step in PLAN.steps:
            times = sorted(self.times[step.index])
            seconds = step.end_s - step.measure_from_s
            samples = self.cpu[step.index]
            first, last = (samples[0], samples[-1]) if len(samples) > 1 else (None, None)
            span = last[2] - first[2] if first and last else 0.0
            busy = (last[0] - first[0]) / span if first and last and span else None
            server = (
                (last[1] - first[1]) / span if first and last and span and PLAN.server_pid else None
            )
            steps.append(
                {
                    "index": step.index,
                    "users": step.users,
                    "replicas": step.replicas,
                    "seconds": seconds,
                    "requests": len(times),
                    "failures": self.failures[step.index],
                    "throughput": len(times) / seconds,
                    "p50_ms": _percentile(times, 0.50),
                    "p95_ms": _percentile(times, 0.95),
                    "p99_ms": _percentile(times, 0.99),
                    "client_cores": busy,
                    "server_cores": server,
                }
            )
        return {
            "client_cores": (
                (cpu - self.started[0]) / (wall - self.started[1]) if self.started else None
            ),
            "steps": steps,
        }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest rank."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


MEASUREMENTS = Measurements()


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    RunState.environment = environment


@events.request.add_listener
def _on_request(response_time: float, exception: BaseException | None, **_: Any) -> None:
    if PLAN.steps:
        MEASUREMENTS.request(response_time, exception)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if PLAN.measurements_file:
        Path(PLAN.measurements_file).write_text(json.dumps(MEASUREMENTS.summary(), indent=2))
