"""The images the image and pod tests need, made in the background from the start of the run.

On a fresh machine (CI's) making them is ~90 s of wall time (measured: the Dockerfile's base
images 32 s, the datastores image 42 s, the Surge image 17 s), mostly mmdebstrap and dpkg. Made
inside the `image` fixture, that time sat on one xdist worker; made by a niced background
process started with the run, it fills the cores the tests leave idle (about a quarter of two
cores while tests wait on servers), and the fixture finds the images made. The image unit is
scheduled after the other process-driving modules (tests/conftest.py), so it rarely waits.

The run's controller starts it (`start`) and ends it (`stop`); the warm-up builds the image
under the tag the `image` fixture then uses (SURGETESTS_IMAGE), and the fixture removes it as
before. Makers of images take `build_lock`, so the fixture never builds beside the warm-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.deploy.container_images import (
    build_image,
    build_lock,
    config_dir,
    ensure_base_images,
    ensure_datastores_image,
    exists,
    podman,
)

IMAGE_VARIABLE = "SURGETESTS_IMAGE"  # the tag the warm-up builds and the `image` fixture uses
NEEDED_BY = ("tests/deploy/test_container.py", "tests/deploy/test_pods.py")
ROOT = Path(__file__).resolve().parents[2]


def image_tag() -> str:
    """The Surge image's tag for this run: the warm-up's, or a new one."""
    return os.environ.get(IMAGE_VARIABLE) or f"localhost/surge-test:{uuid.uuid4().hex[:8]}"


def _log() -> Path:
    """The warm-up's output (what it made, or why it failed), kept until the run ends."""
    return config_dir() / f"warm-{image_tag().rsplit(':', 1)[-1]}.log"


def _needed(args: list[str]) -> bool:
    """Whether the run's paths include the image or pod tests."""
    paths = [ROOT / arg.split("::", 1)[0] for arg in args] or [ROOT / "tests"]
    return any(
        (ROOT / needed).is_relative_to(path.resolve()) for path in paths for needed in NEEDED_BY
    )


def start(args: list[str]) -> subprocess.Popen[bytes] | None:
    """The warm-up in the background, when the run includes the image tests and podman is here
    (otherwise those tests skip or fail by themselves). Sets the run's image tag first, for the
    workers the controller starts after."""
    if not _needed(args) or not all(map(shutil.which, ("podman", "mmdebstrap"))):
        return None
    os.environ[IMAGE_VARIABLE] = image_tag()
    with _log().open("wb") as log:
        return subprocess.Popen(
            ["nice", "-n", "10", sys.executable, "-m", "tests.deploy.image_warmup"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(warm_up: subprocess.Popen[bytes] | None) -> None:
    """At the end of the run: the warm-up ended (stopped if still at work, say after a failure
    elsewhere) and its image removed (the `image` fixture leaves the warm-up's in place)."""
    if warm_up is None:
        return
    if warm_up.poll() is None:  # TERM first: mmdebstrap then removes its half-made root
        os.killpg(warm_up.pid, signal.SIGTERM)
        try:
            warm_up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(warm_up.pid, signal.SIGKILL)
    warm_up.wait()
    podman("image", "rm", "--force", image_tag(), check=False)
    _log().unlink(missing_ok=True)


def main() -> None:
    tag = image_tag()
    with build_lock():
        made = ensure_base_images() + ensure_datastores_image()
        print(f"made: {made or 'nothing'}", flush=True)
        if not exists(tag):
            build_image(tag)


if __name__ == "__main__":
    main()
