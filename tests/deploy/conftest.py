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
    build_lock,
    ensure_base_images,
    exists,
    image_size_mb,
    podman,
    removed_at_exit,
)
from tests.deploy.edge_stack import Stack, surge_stack
from tests.deploy.image_warmup import image_tag
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
    tag, label = image_tag(), f"org.surge.test.run={uuid.uuid4().hex[:8]}"
    with removed_at_exit(label):
        started = time.monotonic()
        with build_lock():  # built by the run's warm-up if it could (tests/deploy/image_warmup.py)
            made = ensure_base_images()  # by this fixture (the warm-up's are in its log)
            ours = not exists(tag)  # the warm-up's is removed at the end of the run
            if ours:
                build_image(tag)
        built = Image(tag, label, made, time.monotonic() - started, image_size_mb(tag))
        try:
            yield built
        finally:
            if ours:
                podman("image", "rm", "--force", tag, check=False)
