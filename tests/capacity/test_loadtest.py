"""`surge loadtest` against a real `surge serve` on 127.0.0.1: short, bounded runs (a few seconds
each) that pass a reachable SLO, fail an impossible one, and sweep into `surge capacity`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Server, create_key, free_port, serve, surge_cli, surge_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def surge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """`surge serve` (all three services, SQLite) and an env with an API key for the CLI."""
    tmp_path = tmp_path_factory.mktemp("loadtest")
    env = surge_env(tmp_path)
    key = create_key(env)["Authorization"].removeprefix("Bearer ")
    with serve(tmp_path, "all", free_port(), env) as server:
        yield server, {**env, "SURGE_KEY": key}


def loadtest(
    surge: tuple[Server, dict[str, str]], out: Path, *args: str
) -> tuple[int, str, dict[str, Any]]:
    server, env = surge
    done = surge_cli(
        env, "loadtest", "--host", server.url, "--links", "20", "--out", str(out), *args
    )
    assert "Traceback" not in done.stderr
    result = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    return done.returncode, done.stdout, result


def endpoint(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in result["endpoints"] if e["name"] == name)


def test_a_short_steady_run_passes_a_reachable_slo(
    surge: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    code, stdout, result = loadtest(
        surge,
        tmp_path / "run",
        "--scenario",
        "steady",
        "--users",
        "5",
        "--duration",
        "4s",
        # A shared CI machine stalls now and then: the SLO here is one no healthy run misses.
        "--slo-p95-ms",
        "1000",
        "--slo-p99-ms",
        "2000",
        "--slo-errors",
        "1%",
    )

    assert code == 0, stdout
    assert "PASS" in stdout
    assert result["verdict"] == "pass"
    redirects = endpoint(result, "GET /{slug}")
    assert redirects["requests"] > 0
    assert redirects["failures"] == 0
    # A creator and an analyst ran alongside the visitors.
    assert endpoint(result, "POST /api/v1/links")["requests"] >= 1
    assert endpoint(result, "GET /api/v1/links/{slug}/stats")["requests"] >= 1
    for name in ("report.html", "locust_stats.csv", "plan.json"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    # The links it seeded are gone again.
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    server, env = surge
    headers = {"Authorization": f"Bearer {env['SURGE_KEY']}"}
    for slug in plan["slugs"][:3]:
        assert httpx.get(f"{server.url}/api/v1/links/{slug}", headers=headers).status_code == 404


def test_an_impossible_slo_fails_the_run(
    surge: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    code, stdout, result = loadtest(
        surge,
        tmp_path / "run",
        "--scenario",
        "steady",
        "--users",
        "2",
        "--duration",
        "2s",
        "--slo-p99-ms",
        "0.001",
    )

    assert code == 1, stdout
    assert "FAIL: redirect p99" in stdout
    assert result["verdict"] == "fail"


def test_a_sweep_feeds_the_capacity_plan(
    surge: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    code, stdout, result = loadtest(
        surge,
        tmp_path / "run",
        "--scenario",
        "sweep",
        "--users",
        "4",
        "--steps",
        "3",
        "--duration",
        "9s",
    )

    assert code == 0, stdout
    assert [s["users"] for s in result["steps"]] == [1, 2, 4]
    assert all(s["throughput"] > 0 for s in result["steps"])
    assert result["verdict"] is None

    _, env = surge
    planned = surge_cli(
        env,
        "capacity",
        "--sweep",
        str(tmp_path / "run" / "result.json"),
        "--out",
        str(tmp_path / "plan"),
    )

    assert planned.returncode == 0, planned.stderr
    assert "USL fit over 3 steps of users" in planned.stdout
    assert (tmp_path / "plan" / "usl.png").stat().st_size > 1000
