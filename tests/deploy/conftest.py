"""Fixtures of the deploy tests: one edge stack for the package (started once, when a test asks)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.container_images import (
    Image,
    build_image,
    ensure_base_images,
    image_size_mb,
    podman,
    removed_at_exit,
)
from tests.deploy.edge_stack import Stack, surge_stack
from tests.deploy.programs import output


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with surge_stack(tmp_path_factory.mktemp("edge")) as running:
        yield running


@pytest.fixture(scope="package")
def key(stack: Stack) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "surge.cli", "keys", "create", "--name", "edge"],
        env=stack.environment("api"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, output(done)
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


@pytest.fixture(scope="package")
def image() -> Iterator[Image]:
    """The real Dockerfile built with podman (tests/deploy/container_images.py), once for the
    image and pod tests (one xdist work unit: tests/conftest.py)."""
    run = uuid.uuid4().hex[:8]
    tag, label = f"localhost/surge-test:{run}", f"org.surge.test.run={run}"
    with removed_at_exit(label):
        started = time.monotonic()
        made = ensure_base_images()
        build_image(tag)
        built = Image(tag, label, made, time.monotonic() - started, image_size_mb(tag))
        try:
            yield built
        finally:
            podman("image", "rm", "--force", tag, check=False)
