"""The Dockerfile: clean under hadolint, one slim non-root image with a health check and OCI
labels, a context that holds what it copies, and a build recipe that installs a working Surge.

No Docker engine runs here, so the build stage's own commands are run instead: its ENV, COPY
and RUN lines, in order, in a temp dir standing for the image (tests/deploy/test_image.py
`build_stage`). CI (.github/workflows/ci.yml) builds the real image and runs it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.programs import DOCKERFILE, DOCKERIGNORE, ROOT, output, require, run


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages: FROM, then (keyword, arguments) with continuations joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            found.append(Stage(parts[0], parts[2] if len(parts) == 3 else None))
        elif found:
            found[-1].instructions.append((keyword, args.strip()))
    return found


def arg_defaults() -> dict[str, str]:
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    }


def test_hadolint_passes() -> None:
    done = run("hadolint", "--failure-threshold", "style", str(DOCKERFILE))
    assert done.returncode == 0, output(done)


def test_hadolint_catches_what_it_should(tmp_path: Path) -> None:
    """The check bites: a Dockerfile with an unpinned base image and a root user fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nUSER root\nRUN cd /tmp && pip install surge\n")
    done = run("hadolint", "--failure-threshold", "style", str(bad))
    assert done.returncode != 0, output(done)
    assert "DL3006" in done.stdout  # untagged image


def test_one_multi_stage_image_from_a_slim_base() -> None:
    found = stages()
    assert len(found) >= 2, "multi-stage: a build stage, and a runtime stage without build tools"
    runtime = found[-1]
    base = runtime.base.replace("${PYTHON_TAG}", arg_defaults()["PYTHON_TAG"])
    base = base.replace("${PYTHON_DIGEST}", "")
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base), base
    build = next(stage for stage in found if stage.name == "build")
    assert any("uv sync --frozen" in run_ for run_ in build.all("RUN")), "from the lockfile"
    assert any("uv.lock" in copy for copy in build.all("COPY"))
    assert not any("uv" in copy.split()[-1] for copy in runtime.all("COPY")), "no uv at runtime"


def test_every_base_image_has_a_tag_and_a_digest_ci_fills_in() -> None:
    """Each FROM names its image and tag in the open (a scan such as checkov's CKV_DOCKER_7
    sees the tag) and ends in the digest ARG the workflow's "Base images by digest" step sets
    (tests/deploy/test_workflow.py runs it); nothing else is pulled."""
    found = stages()
    bases = [stage.base for stage in found]
    assert bases == [
        "ghcr.io/astral-sh/uv:${UV_TAG}${UV_DIGEST}",
        "python:${PYTHON_TAG}${PYTHON_DIGEST}",
        "python:${PYTHON_TAG}${PYTHON_DIGEST}",
    ]
    text = DOCKERFILE.read_text()
    for name in ("PYTHON_DIGEST", "UV_DIGEST"):
        assert re.search(rf"^ARG {name}=(@sha256:[0-9a-f]{{64}})?$", text, re.M), name
    labels = " ".join(found[-1].all("LABEL"))
    assert 'org.opencontainers.image.base.name="python:${PYTHON_TAG}${PYTHON_DIGEST}"' in labels


def test_runtime_runs_as_a_non_root_user_with_a_health_check_and_labels() -> None:
    runtime = stages()[-1]
    users = runtime.all("USER")
    assert users, "USER"
    uid = users[-1].split(":")[0]
    # Numeric: Kubernetes' runAsNonRoot can only check a number.
    assert uid.isdigit(), uid
    assert int(uid) >= 1000, uid
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "/healthz" in " ".join(runtime.all("ENV"))
    assert "SURGE_HEALTHCHECK_URL" in healthcheck
    assert runtime.all("ENTRYPOINT") == ['["surge"]'], "one image: the command picks the service"
    labels = " ".join(runtime.all("LABEL"))
    for label in ("title", "description", "source", "revision", "version", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels, label


def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    return any(
        fnmatch.fnmatch(path, pattern.removeprefix("**/"))
        or path.split("/")[0] == pattern
        or fnmatch.fnmatch(path.split("/")[-1], pattern.removeprefix("**/"))
        for pattern in ignore_patterns()
    )


def copied_sources() -> list[str]:
    """What the Dockerfile COPYs from the build context (not --from another stage)."""
    sources = []
    for stage in stages():
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
            sources += parts[:-1]
    return sources


def test_the_build_context_holds_what_the_image_copies_and_not_the_rest() -> None:
    sources = copied_sources()
    assert {"pyproject.toml", "uv.lock", "src", "migrations"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f".dockerignore leaves out {source}, which the image copies"
    for heavy in (".git", ".venv", "tests", "data", "docs", "bench", "src/surge/__pycache__"):
        assert ignored(heavy), f".dockerignore should leave out {heavy}"


def python_for_uv() -> str:
    """The interpreter the recipe's uv installs for: this one's base (not the venv's)."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)).resolve())


def build_stage(workdir: Path, prefix: Path) -> list[str]:
    """Run the build stage's instructions with `prefix` standing for /opt/surge and `workdir`
    for its WORKDIR; the commands run."""
    build = next(stage for stage in stages() if stage.name == "build")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    ran = []
    for keyword, args in build.instructions:
        args = args.replace("/opt/surge", str(prefix))
        if keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", args):
                env[name] = value
            env["UV_PYTHON"] = python_for_uv()
        elif keyword == "COPY" and "--from=" not in args:
            *sources, _ = shlex.split(args)
            for source in sources:
                target = workdir / source
                if (ROOT / source).is_dir():
                    skip = shutil.ignore_patterns("__pycache__")
                    shutil.copytree(ROOT / source, target, ignore=skip)
                else:
                    shutil.copy2(ROOT / source, target)
        elif keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", args)
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, f"RUN {command}\n{output(done)}"
            ran.append(command)
    return ran


@pytest.mark.e2e
def test_the_build_recipe_installs_a_surge_that_runs_without_the_source_tree(
    tmp_path: Path,
) -> None:
    """The build stage's commands (uv from the lockfile, Surge not editable, the migrations
    inside the package) leave an environment whose `surge` migrates a database and makes a key
    with nothing of the source tree left."""
    require("uv")
    workdir, prefix = tmp_path / "src", tmp_path / "opt-surge"
    workdir.mkdir()
    ran = build_stage(workdir, prefix)
    assert any("--no-editable" in command for command in ran)
    shutil.rmtree(workdir)  # the runtime stage copies only the environment
    surge = prefix / "bin" / "surge"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "VIRTUAL_ENV"))} | {
        "SURGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}"
    }
    done = subprocess.run(
        [str(surge), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, output(done)
    assert done.stdout.strip() == "database is up to date"
    keys = subprocess.run(
        [str(surge), "keys", "create", "--name", "image"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert keys.returncode == 0, output(keys)
    assert re.fullmatch(r"sk_[\w-]{40,}", keys.stdout.strip()), keys.stdout
