"""The pipeline: .github/workflows/ci.yml passes actionlint (which runs shellcheck on its
scripts), has the stages and gates docs/deploy.md describes, and its scripts work: the shell
ones pass shellcheck, the performance gate passes and fails where it should."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import programs
from tests.deploy.programs import (
    CI_SCRIPTS,
    DOCKERFILE,
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


BASE_DIGEST = "sha256:" + "ab" * 32
# A stand-in for `docker buildx imagetools inspect REF --format '{{json .Manifest}}'`: no
# registry is reachable here, so it answers one digest for any reference (and logs what it got).
FAKE_DOCKER = f"""#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
echo '{{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "{BASE_DIGEST}"}}'
"""


def pin_base_images(tmp_path: Path, dockerfile: str) -> dict[str, str]:
    """Run the workflow's "Base images by digest" script on `dockerfile` with the stand-in
    docker: the step's outputs."""
    (step,) = [s for s in steps("image") if s.get("name") == "Base images by digest"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "Dockerfile").write_text(dockerfile)
    outputs = tmp_path / "outputs"
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(outputs),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, output(done)
    return dict(line.split("=", 1) for line in outputs.read_text().splitlines())


def from_lines(dockerfile: str) -> list[str]:
    """The images a Dockerfile's FROM lines name, its ARG defaults filled in."""
    args = dict(re.findall(r"^ARG (\w+)=(\S*)$", dockerfile, re.M))
    images = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    return [re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image) for image in images]


def test_both_builds_use_the_base_images_pinned_by_digest(tmp_path: Path) -> None:
    """Every tag the Dockerfile's FROM lines take is resolved to its digest before the build,
    and the build that is tested and the one that is pushed both get the digests."""
    require("jq")
    dockerfile = DOCKERFILE.read_text()
    pinned = pin_base_images(tmp_path, dockerfile)
    assert pinned == {"python": f"@{BASE_DIGEST}", "uv": f"@{BASE_DIGEST}"}
    asked = {line.split()[3] for line in (tmp_path / "bin" / "calls").read_text().splitlines()}
    assert asked == set(from_lines(dockerfile)), "the images the FROM lines name, by tag"
    builds = [s for s in steps("image") if s.get("uses", "").startswith("docker/build-push-action")]
    assert len(builds) == 2, "the tested build and the pushed one"
    for build in builds:
        args = build["with"]["build-args"]
        assert "PYTHON_DIGEST=${{ steps.base.outputs.python }}" in args, build["name"]
        assert "UV_DIGEST=${{ steps.base.outputs.uv }}" in args, build["name"]


def test_a_base_image_committed_with_its_digest_is_kept(tmp_path: Path) -> None:
    require("jq")
    committed = "@sha256:" + "cd" * 32
    dockerfile = DOCKERFILE.read_text().replace(
        "ARG PYTHON_DIGEST=\n", f"ARG PYTHON_DIGEST={committed}\n"
    )
    assert committed in dockerfile
    pinned = pin_base_images(tmp_path, dockerfile)
    assert pinned == {"python": committed, "uv": f"@{BASE_DIGEST}"}
    calls = (tmp_path / "bin" / "calls").read_text()
    assert "ghcr.io/astral-sh/uv:" in calls
    assert "python:" not in calls, "nothing asked for what is already pinned"


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
