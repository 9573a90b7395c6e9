"""The pipeline: .github/workflows/ci.yml passes actionlint (which runs shellcheck on its
scripts), has the stages and gates docs/deploy.md describes, and its scripts work: the shell
ones pass shellcheck, the performance gate passes and fails where it should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import programs
from tests.deploy.programs import (
    CI_SCRIPTS,
    K8S,
    ROOT,
    WORKFLOW,
    WORKFLOWS,
    load_yaml,
    output,
    require,
    run,
)

JOBS: dict[str, Any] = load_yaml(WORKFLOW)["jobs"]


def test_actionlint_passes() -> None:
    require("shellcheck")  # without it actionlint skips the scripts silently
    workflows = sorted(WORKFLOWS.glob("*.y*ml"))
    assert [path.name for path in workflows] == ["ci.yml"]
    done = run("actionlint", "-color=false", *map(str, workflows), cwd=ROOT)
    assert done.returncode == 0, output(done)


def test_actionlint_catches_what_it_should(tmp_path: Path) -> None:
    """The check bites: an unknown job in `needs`, a bad expression, an unquoted variable."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: [nope]\n    steps:\n"
        "      - run: echo ${{ github.shaa }}\n      - run: rm -rf $DIR/x\n"
    )
    require("shellcheck")
    done = run("actionlint", "-color=false", str(bad), cwd=tmp_path)
    assert done.returncode != 0
    assert "nope" in done.stdout
    assert "shaa" in done.stdout
    assert "SC2086" in done.stdout


@pytest.mark.parametrize(
    "script", [*sorted(CI_SCRIPTS.glob("*.sh")), ROOT / ".ci" / "run"], ids=lambda p: p.name
)
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    done = run("shellcheck", str(script))
    assert done.returncode == 0, output(done)


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = JOBS[job]["steps"]
    return found


def runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def test_tests_run_with_postgresql_and_redis_containers() -> None:
    services = JOBS["test"]["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["redis"]["image"].startswith("redis:")
    assert services["redis"]["ports"] == ["6379:6379"]
    assert "bash .ci/run" in runs("test"), "the same script as this project's CI"


def test_the_image_is_tested_then_pushed_to_ghcr_by_commit_on_main_only() -> None:
    image = JOBS["image"]
    assert image["permissions"]["packages"] == "write"
    (meta,) = [s for s in steps("image") if s.get("uses", "").startswith("docker/metadata-action")]
    assert "type=sha,format=long" in meta["with"]["tags"]
    names = [s.get("name", s.get("uses")) for s in steps("image")]
    (push,) = [s for s in steps("image") if s.get("with", {}).get("push") is True]
    assert names.index(push["name"]) > names.index(
        "The image serves (its HEALTHCHECK, a link, a redirect)"
    )
    assert "refs/heads/main" in push["if"]
    assert "ghcr.io/" in runs("image")


def test_the_performance_gate_runs_the_bench_and_the_gate() -> None:
    script = runs("perf")
    assert script.count("python bench/redirect.py") >= 1
    assert "python deploy/ci/perf_gate.py bench/results/redirect-*.json" in script


def test_staging_deploys_automatically_after_every_check() -> None:
    staging = JOBS["staging"]
    assert set(staging["needs"]) == {"test", "image", "perf"}
    assert staging["environment"]["name"] == "staging"
    assert "refs/heads/main" in staging["if"]
    assert_deploys(staging, "staging")


def test_production_waits_for_staging_and_an_approval() -> None:
    production = JOBS["production"]
    assert "staging" in production["needs"]
    # Required reviewers are set on this environment in the repository's settings.
    assert production["environment"]["name"] == "production"
    assert_deploys(production, "prod")


def assert_deploys(job: dict[str, Any], overlay: str) -> None:
    """Deploy the overlay with the pushed digest, smoke-test it, and roll back on failure."""
    assert (K8S / "overlays" / overlay).is_dir()
    assert "@${{ needs.image.outputs.digest }}" in job["env"]["IMAGE"]
    names = [step.get("name") for step in job["steps"]]
    deploy = job["steps"][names.index("Deploy (migrate Job, then a rolling update)")]
    assert f"deploy/ci/deploy.sh deploy/k8s/overlays/{overlay} " in deploy["run"]
    smoke = job["steps"][names.index("Smoke test")]
    assert "deploy/ci/smoke.py" in smoke["run"]
    assert smoke["env"]["SURGE_SMOKE_KEY"] == "${{ secrets.SURGE_SMOKE_KEY }}"
    rollback = job["steps"][names.index("Roll back")]
    assert names.index("Roll back") > names.index("Smoke test")
    assert rollback["if"].startswith("failure()")
    assert "deploy/ci/rollback.sh" in rollback["run"]
    expected = {"staging": "surge-staging", "prod": "surge"}[overlay]
    assert job["env"]["NAMESPACE"] == expected, "the overlay's namespace"


# --- the performance gate ----------------------------------------------------------------------


def result(tmp_path: Path, name: str, ratio: float) -> Path:
    """A results file shaped as bench/redirect.py writes it (bench/parts/results.save)."""
    path = tmp_path / f"redirect-{name}.json"
    summary = {
        "bare": {"median_rps": 40000.0},
        "surge": {"median_rps": 40000.0 * ratio},
        "ratio_surge_over_bare_rps": ratio,
    }
    path.write_text(json.dumps({"summary": summary}))
    return path


def gate(*results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "perf_gate.py"), *map(str, results)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def committed() -> float:
    baseline = json.loads((CI_SCRIPTS / "perf-baseline.json").read_text())
    assert baseline["tolerance"] == 0.10
    ratio: float = baseline["ratio_surge_over_bare_rps"]
    assert 0 < ratio <= 1.5
    return ratio


def test_the_gate_passes_down_to_ten_percent_below_the_baseline(tmp_path: Path) -> None:
    done = gate(result(tmp_path, "a", committed() * 0.91))
    assert done.returncode == 0, output(done)
    assert "perf gate pass" in done.stdout


def test_the_gate_fails_more_than_ten_percent_below(tmp_path: Path) -> None:
    done = gate(result(tmp_path, "a", committed() * 0.89))
    assert done.returncode == 1, output(done)
    assert "perf gate FAIL" in done.stdout


def test_the_gate_takes_the_best_of_several_runs(tmp_path: Path) -> None:
    noisy = result(tmp_path, "noisy", committed() * 0.5)
    done = gate(noisy, result(tmp_path, "quiet", committed()))
    assert done.returncode == 0, output(done)
    assert gate(noisy).returncode == 1


def test_the_gate_fails_without_a_measurement(tmp_path: Path) -> None:
    assert gate().returncode == 2
    assert gate(tmp_path / "missing.json").returncode == 1
    assert gate(result(tmp_path, "zero", 0.0)).returncode == 1


def test_the_bench_writes_what_the_gate_reads() -> None:
    """bench/redirect.py's summary (bench/parts/report.summarize) has the key the gate reads,
    in the file name it globs (redirect-<time>.json, by the one results writer)."""
    bench = ROOT / "bench"
    assert 'summary["ratio_surge_over_bare_rps"]' in (bench / "parts" / "report.py").read_text()
    assert 'run_bench("redirect", ' in (bench / "redirect.py").read_text()
    assert '/ f"{name}-{stamp}.json"' in (bench / "parts" / "results.py").read_text()


def test_a_missing_program_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURGE_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-program is not installed"):
        programs.require("no-such-program")
    monkeypatch.setenv("SURGE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        programs.require("no-such-program")
