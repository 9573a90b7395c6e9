"""The traffic a load test sends, and when: shared by `surge loadtest`, which plans a run, and the
Locust user classes in loadtests/, which carry it out.

Pure Python on purpose: importing Locust monkey-patches the whole process with gevent, so
`surge` and the tests import this module and only the Locust process imports Locust.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1",
)
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
REFERRERS = (
    None,
    "https://news.ycombinator.com/item?id=1",
    "https://t.co/x1",
    "https://www.google.com/",
    "https://www.reddit.com/r/programming/",
    "https://www.linkedin.com/feed/",
    "https://mail.example.com/",
)
COUNTRIES = (None, "US", "DE", "GB", "FR", "IN", "BR", "JP", "NL", "CA")

SCENARIOS = ("steady", "ramp", "viral", "sweep")
VISITOR_RPS = 5.0  # requests/s of each paced visitor (steady, ramp, viral); sweeps do not pace
BOT_SHARE = 0.05
VIRAL_FACTOR = 10.0  # the burst multiplies visitor traffic by this; the excess is one link's
VIRAL_BURST_S = 60.0
# Creators and analysts are one user each (Locust's fixed_count) once a run has this many users:
# a handful of people manage links while many follow them.
MIN_USERS_FOR_API = 3
VISITOR, CREATOR, ANALYST = "Visitor", "Creator", "Analyst"


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    """Cumulative weights of ranks 1..n under Zipf's law with exponent s."""
    return list(itertools.accumulate(1 / rank**s for rank in range(1, n + 1)))


@dataclass(frozen=True, slots=True)
class Stage:
    """What the run does now: Locust's shape turns it into (users, spawn rate, classes)."""

    users: int
    spawn_rate: float
    classes: tuple[str, ...]
    multiplier: float = 1.0  # visitor traffic relative to the baseline (viral)
    step: int | None = None  # the sweep step measured now
    replicas: int = 1  # how many of the plan's hosts visitors spread over


@dataclass(frozen=True, slots=True)
class SweepStep:
    index: int
    users: int
    replicas: int
    start_s: float
    end_s: float
    settle_s: float  # discarded at the start of the step: users spawning, caches, the tick

    @property
    def measure_from_s(self) -> float:
        return self.start_s + self.settle_s


def sweep_levels(top: int, count: int) -> list[int]:
    """Up to `count` levels from 1 to `top`, spaced geometrically (the USL curve bends early)."""
    if top <= 1 or count <= 1:
        return [max(1, top)]
    return sorted({round(top ** (i / (count - 1))) for i in range(count)})


def sweep_steps(
    users: int, duration_s: float, count: int, replicas: int = 1
) -> tuple[SweepStep, ...]:
    """The steps of a sweep in `duration_s`: concurrency 1..`users`, or with several replicas,
    1..`replicas` replicas each driven by `users` users. Whole seconds, as Locust ticks each."""
    stepped = (
        [(users * r, r) for r in range(1, replicas + 1)]
        if replicas > 1
        else [(n, 1) for n in sweep_levels(users, count)]
    )
    length = max(3, math.floor(duration_s / len(stepped)))
    settle = max(1, round(length / 4))
    return tuple(
        SweepStep(i, n, r, float(i * length), float((i + 1) * length), float(settle))
        for i, (n, r) in enumerate(stepped)
    )


def viral_phases(duration_s: float) -> tuple[float, float]:
    """When the burst starts and ends: after a fifth of the run (at least 5 s) for a minute, or
    for two fifths of a shorter run; it decays over the rest."""
    start = min(max(5.0, duration_s / 5), duration_s / 2)
    return start, start + min(VIRAL_BURST_S, duration_s * 2 / 5)


def viral_multiplier(t: float, duration_s: float) -> float:
    """Visitor traffic at `t` relative to the baseline: 1, then VIRAL_FACTOR, then back down
    exponentially with a half-life of a fifth of the decay."""
    start, end = viral_phases(duration_s)
    if t < start:
        return 1.0
    if t < end:
        return VIRAL_FACTOR
    half_life = max(1.0, (duration_s - end) / 5)
    return 1.0 + (VIRAL_FACTOR - 1.0) * math.pow(0.5, (t - end) / half_life)


@dataclass(frozen=True)
class LoadPlan:
    """One run, as `surge loadtest` hands it to the Locust process (plan.json; the API key goes
    by environment, never into the run folder)."""

    scenario: str
    users: int
    duration_s: float
    seed: int
    slugs: tuple[str, ...]
    api_url: str
    hosts: tuple[str, ...]
    steps: tuple[SweepStep, ...] = ()
    measurements_file: str = ""
    visitor_rps: float = VISITOR_RPS
    bot_share: float = BOT_SHARE
    run_id: str = "lt"  # names the links the creators make, so runs do not collide
    server_pid: int | None = None  # a local server whose CPU each sweep step records

    @property
    def viral_slug(self) -> str:
        """The least popular link: it was nobody's before it went viral."""
        return self.slugs[-1]

    @property
    def end_s(self) -> float:
        return self.steps[-1].end_s if self.steps else self.duration_s

    def stage_at(self, t: float) -> Stage | None:
        """What runs `t` seconds into the run; None once it is over."""
        if t >= self.end_s:
            return None
        if self.scenario == "sweep":
            step = next(s for s in self.steps if s.start_s <= t < s.end_s)
            return Stage(step.users, float(step.users), (VISITOR,), 1.0, step.index, step.replicas)
        if self.scenario == "ramp":
            return self._mixed(max(1, math.ceil(self.users * (t + 1) / self.duration_s)))
        if self.scenario == "viral":
            multiplier = viral_multiplier(t, self.duration_s)
            return self._mixed(self.users, multiplier)
        return self._mixed(self.users)

    def _mixed(self, users: int, multiplier: float = 1.0) -> Stage:
        """Visitors (times the multiplier), plus a creator and an analyst when there is room."""
        api_users = 2 if users >= MIN_USERS_FOR_API else 0
        visitors = max(1, round((users - api_users) * multiplier))
        classes = (VISITOR, CREATOR, ANALYST) if api_users else (VISITOR,)
        total = visitors + api_users
        # Spawn a stage within about a second: stages change at most once per Locust tick.
        return Stage(total, float(max(1, total)), classes, multiplier)

    def to_file(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def from_file(cls, path: Path) -> LoadPlan:
        raw = json.loads(path.read_text())
        raw["slugs"] = tuple(raw["slugs"])
        raw["hosts"] = tuple(raw["hosts"])
        raw["steps"] = tuple(SweepStep(**step) for step in raw["steps"])
        return cls(**raw)
