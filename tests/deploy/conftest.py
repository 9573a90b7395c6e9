"""Fixtures of the deploy tests: one edge stack for the package (started once, when a test asks)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

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
