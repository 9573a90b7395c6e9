"""Podman for the image tests: stand-in base images made locally (no registry is reachable
here, only Debian's mirror and PyPI), the real Dockerfile built on them, containers that are
always removed.

The stand-ins carry the exact names the Dockerfile's `FROM` lines ask for, so the Dockerfile is
built unchanged with `--pull=never`:
- the Python base (`python:3.11-slim-bookworm`): Debian's own minbase with python3, made by
  mmdebstrap, with /usr/local/bin/python3 and python pointing at /usr/bin/python3;
- `ghcr.io/astral-sh/uv:<version>`: a filesystem holding only /uv, from PyPI's uv wheel.
They stay in podman's store under those names: made once per machine (~30 s), found after.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.programs import DOCKERFILE, ROOT, require

STANDIN_LABEL = "org.surge.test.standin"
DATASTORES = "localhost/surge-test-datastores:bookworm"  # PostgreSQL and Redis, Debian's
# Machines like this one: crun refuses the hybrid cgroup layout, and root cannot raise its
# ulimits to podman's defaults (nofile=1048576). Private to the tests: CONTAINERS_CONF.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
"""
# The build's `uv sync` trusts the system store (the host's, mounted in below) instead of its
# own bundled roots: a host behind a TLS-inspecting proxy trusts extra CAs.
UV_TOML = "system-certs = true\n"
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


def base_images() -> tuple[str, str, str]:
    """The Dockerfile's Python base tag, its uv image tag and that uv's version."""
    text = DOCKERFILE.read_text()
    python = re.search(r"^ARG PYTHON_TAG=(\S+)$", text, re.M)
    uv = re.search(r"^ARG UV_TAG=(\S+)$", text, re.M)
    assert python, "the Dockerfile's Python base moved: update tests/deploy"
    assert uv, "the Dockerfile's uv image moved: update tests/deploy"
    return f"python:{python[1]}", f"ghcr.io/astral-sh/uv:{uv[1]}", uv[1]


def config_dir() -> Path:
    directory = Path(tempfile.gettempdir()) / "surge-tests-podman"
    directory.mkdir(exist_ok=True)
    for name, text in (("containers.conf", CONTAINERS_CONF), ("uv.toml", UV_TOML)):
        (directory / name).write_text(text)
    return directory


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(config_dir() / "containers.conf")}


def podman(
    *args: str, timeout_s: float = 60, check: bool = True, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """`podman ARGS` with the tests' configuration; raises with its output when `check` and it
    fails."""
    done = subprocess.run(
        [require("podman"), *args],
        env=podman_env(),
        capture_output=True,
        text=stdin is None,
        input=stdin,
        timeout=timeout_s,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr!s}")
    return done


def exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def debian_image(
    tag: str, suite: str, packages: str, *hooks: str, changes: tuple[str, ...] = ()
) -> None:
    """Debian's minbase of `suite` with `packages` (comma-separated), imported as `tag`."""
    debootstrap = subprocess.Popen(
        [
            require("mmdebstrap"),
            "--quiet",
            "--variant=minbase",
            f"--include={packages}",
            *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale")),
            *(f"--customize-hook={hook}" for hook in hooks),
            suite,
            "-",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert debootstrap.stdout is not None
    label = f"LABEL {STANDIN_LABEL}=debian-{suite}-minbase"
    path = "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
    try:
        imported = subprocess.run(
            [require("podman"), "import", "--quiet",
             *(f"--change={change}" for change in (path, *changes, label)), "-", tag],
            stdin=debootstrap.stdout,
            env=podman_env(),
            capture_output=True,
            timeout=300,
            check=False,
        )  # fmt: skip
    finally:
        debootstrap.stdout.close()
        errors = debootstrap.communicate(timeout=300)[1]
    assert debootstrap.returncode == 0, f"mmdebstrap: {errors.decode(errors='replace')}"
    assert imported.returncode == 0, f"podman import: {imported.stderr.decode(errors='replace')}"


def _make_python_base(tag: str) -> None:
    """python3 where the slim image has it (/usr/local/bin), with its environment."""
    debian_image(
        tag,
        tag.rsplit("-", 1)[1],  # python:3.11-slim-bookworm: bookworm
        "python3,python3-venv,ca-certificates",
        'ln -s /usr/bin/python3 "$1/usr/local/bin/python3"',
        'ln -s /usr/bin/python3 "$1/usr/local/bin/python"',
        changes=("ENV LANG=C.UTF-8", 'CMD ["python3"]'),
    )


def _make_uv_image(tag: str, version: str) -> None:
    """A filesystem holding only /uv (as astral's image does), from PyPI's uv wheel."""
    with tempfile.TemporaryDirectory() as target:
        installed = subprocess.run(
            [require("uv"), "pip", "install", "--quiet", "--no-deps", "--target", target,
             f"uv=={version}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert installed.returncode == 0, f"uv pip install uv=={version}: {installed.stderr}"
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as tar:
            tar.add(Path(target) / "bin" / "uv", arcname="uv")
    podman("import", "--quiet", "--change", f"LABEL {STANDIN_LABEL}=pypi-uv-{version}",
           "-", tag, stdin=layer.getvalue(), timeout_s=120)  # fmt: skip


@contextmanager
def build_lock() -> Iterator[None]:
    """One maker of images at a time, across processes (the background warm-up, the xdist
    workers: tests/deploy/image_warmup.py)."""
    with (config_dir() / "build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_datastores_image() -> list[str]:
    """PostgreSQL and Redis from Debian's packages (the pod tests' datastores), made unless
    podman's store has it; returns it if made."""
    if exists(DATASTORES):
        return []
    debian_image(DATASTORES, "bookworm", "postgresql,redis-server")
    return [DATASTORES]


def ensure_base_images() -> list[str]:
    """The Dockerfile's base images, made unless podman's store has them; returns those made."""
    python, uv, uv_version = base_images()
    made = []
    if not exists(python):
        _make_python_base(python)
        made.append(python)
    if not exists(uv):
        _make_uv_image(uv, uv_version)
        made.append(uv)
    return made


def build_image(tag: str) -> None:
    """The repository's Dockerfile, unchanged, as `tag`. Docker format keeps its HEALTHCHECK
    (OCI's has none); the build's network is the host's; its RUN steps see the host's CA bundle
    and a uv configuration trusting it (bind mounts: nothing of them lands in the image)."""
    config = config_dir()
    trust = []
    if HOST_CA_BUNDLE.is_file():
        trust = ["--volume", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",
                 "--volume", f"{config / 'uv.toml'}:/etc/uv/uv.toml:ro"]  # fmt: skip
    podman("build", "--quiet", "--pull=never", "--format", "docker", "--network", "host",
           *trust, "--build-arg", "SURGE_BUILD_COMMIT=test", "--tag", tag, str(ROOT),
           timeout_s=600)  # fmt: skip


def image_size_mb(tag: str) -> float:
    size = podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
    return int(size) / 1e6


@contextmanager
def removed_at_exit(label: str) -> Iterator[None]:
    """Every container and pod labelled `label` is removed on the way out, however the block
    ends (podman's conmon outlives the podman command that started a container)."""
    try:
        yield
    finally:
        for line in podman("ps", "--all", "--quiet", "--filter", f"label={label}").stdout.split():
            podman("rm", "--force", "--time", "0", line, check=False, timeout_s=60)


@dataclass
class Image:
    tag: str
    label: str  # on every container made from it: removed at the end
    made: list[str]  # the base images this run had to make
    build_s: float
    size_mb: float
