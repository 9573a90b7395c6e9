"""The load shapes: what a run does second by second, from the plan Locust receives."""

from __future__ import annotations

from pathlib import Path

from surge.capacity.seed import USER_AGENTS
from surge.capacity.traffic import (
    ANALYST,
    BOTS,
    BROWSERS,
    CREATOR,
    VIRAL_FACTOR,
    VISITOR,
    LoadPlan,
    sweep_levels,
    sweep_steps,
    viral_phases,
)


def plan(scenario: str, users: int = 20, duration_s: float = 60, **extra: object) -> LoadPlan:
    slugs = tuple(f"s{i}" for i in range(10))
    return LoadPlan(scenario, users, duration_s, 1, slugs, "http://a", ("http://r",), **extra)  # type: ignore[arg-type]


def test_steady_holds_its_users_then_ends() -> None:
    steady = plan("steady")

    stages = [steady.stage_at(t) for t in range(60)]

    assert all(s is not None and s.users == 20 for s in stages)
    assert stages[0] is not None
    assert stages[0].classes == (VISITOR, CREATOR, ANALYST)
    assert steady.stage_at(60) is None


def test_a_tiny_run_is_visitors_only() -> None:
    stage = plan("steady", users=2).stage_at(0)

    assert stage is not None
    assert stage.classes == (VISITOR,)
    assert stage.users == 2


def test_ramp_climbs_to_its_users() -> None:
    ramp = plan("ramp", users=30, duration_s=30)

    counts = [s.users for t in range(30) if (s := ramp.stage_at(t)) is not None]

    assert counts == sorted(counts)
    assert counts[0] < 5
    assert counts[-1] == 30


def test_viral_steps_visitor_traffic_up_tenfold_then_decays() -> None:
    viral = plan("viral", users=12, duration_s=180)
    start, end = viral_phases(180)

    before, during = viral.stage_at(start - 1), viral.stage_at(start + 1)
    late = viral.stage_at(179)

    assert (start, end) == (36, 96)  # a fifth of the run, then one minute
    assert before is not None
    assert during is not None
    assert late is not None
    assert before.multiplier == 1
    assert during.multiplier == VIRAL_FACTOR
    # Ten times the visitors (the creator and the analyst stay one each).
    assert during.users - 2 == VIRAL_FACTOR * (before.users - 2)
    assert 1 < late.multiplier < 2
    assert viral.viral_slug == "s9"  # the least popular link before it went viral


def test_sweep_steps_concurrency_geometrically_with_settling_time() -> None:
    steps = sweep_steps(64, 80, 8)

    assert [s.users for s in steps] == sweep_levels(64, 8) == [1, 2, 3, 6, 11, 20, 35, 64]
    assert all(s.end_s - s.start_s == 10 for s in steps)
    assert all(s.measure_from_s > s.start_s for s in steps)
    sweep = plan("sweep", users=64, duration_s=80, steps=steps)
    stage = sweep.stage_at(35)
    assert stage is not None
    assert (stage.users, stage.step, stage.classes) == (6, 3, (VISITOR,))
    assert sweep.stage_at(80) is None


def test_a_replica_sweep_adds_a_replica_and_its_users_per_step() -> None:
    steps = sweep_steps(16, 30, 8, replicas=3)

    assert [(s.users, s.replicas) for s in steps] == [(16, 1), (32, 2), (48, 3)]


def test_the_plan_survives_its_trip_to_the_locust_process(tmp_path: Path) -> None:
    original = plan("sweep", users=8, duration_s=12, steps=sweep_steps(8, 12, 3))

    original.to_file(tmp_path / "plan.json")

    assert LoadPlan.from_file(tmp_path / "plan.json") == original


def test_seeded_and_load_test_traffic_share_their_agents() -> None:
    # `surge seed` keeps its six browsers and its one bot, Googlebot.
    assert USER_AGENTS == (*BROWSERS, BOTS[0])
    assert len(USER_AGENTS) == 7
