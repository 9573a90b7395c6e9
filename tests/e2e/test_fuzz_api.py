"""Schemathesis over `/openapi.json` of a real all-in-one `surge serve`, every check on: no
server error, no status or problem the description does not list, no schema-valid request
refused, no schema-violating one accepted, `Allow` on 405 exactly the path's methods. Bounded
(a fixed seed; 12 examples an operation on PostgreSQL, 10 on SQLite; at 25 on PostgreSQL it
took 62 + 21 s in a full `make test` on a quiet 2-core machine, the suite's longest test, and
CI's 10 minutes are shared by the whole suite).

Every phase runs on PostgreSQL, the production store, whose types are the stricter (int4
columns, no NUL in text). The embedded SQLite gets the random and the stateful phases, not the
coverage phase's boundary values again: those stop at request validation, the same code on both
stores, and the phase is half the run (28 of 56 s on SQLite alone)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, serve, surge_cli, surge_env
from tests.services import create_database, drop_database, require_postgres

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_EXAMPLES = {"sqlite": "10", "postgresql": "12"}  # the API's code is one; its stores two
SEED = "20261201"
PHASES = {"sqlite": "examples,fuzzing,stateful", "postgresql": "examples,coverage,fuzzing,stateful"}


def seeded_tags() -> list[str]:
    """The tags the configuration gives the tags routes (a link with them is made first)."""
    tags: list[str] = tomllib.loads(CONFIG.read_text())["dictionaries"]["seeded-tags"]["values"]
    return tags


@pytest.fixture(params=list(PHASES))
def fuzz_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    # The budgets a fuzzer spends in seconds are far over the defaults; what limits do is
    # tested in tests/api/test_rate_limits.py.
    limits = {
        "SURGE_RATE_LIMIT_PER_KEY": "1000000/minute",
        "SURGE_RATE_LIMIT_PER_IP": "1000000/minute",
        "SURGE_RATE_LIMIT_AUTH_FAILURES": "1000000/minute",
        "SURGE_WEBHOOK_MAX_PER_USER": "1000000",
    }
    if request.param == "sqlite":
        yield surge_env(tmp_path, **limits)
        return
    require_postgres()
    database_url = asyncio.run(create_database())
    try:
        yield surge_env(tmp_path, SURGE_DATABASE_URL=database_url, **limits)
    finally:
        asyncio.run(drop_database(database_url))


@pytest.mark.e2e
def test_the_api_does_what_its_openapi_description_says(
    fuzz_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    migrated = surge_cli(fuzz_env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    made = surge_cli(fuzz_env, "keys", "create", "--name", "fuzzer", "--admin")
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = {**fuzz_env, "SURGE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with serve(tmp_path, "all", port, env) as server:
        admin = {"Authorization": f"Bearer {made.stdout.strip()}"}
        tagged = {"url": "https://example.com/", "tags": seeded_tags()}
        seeded = httpx.post(f"{server.url}/api/v1/links", json=tagged, headers=admin, timeout=10)
        assert seeded.status_code == 201, seeded.text
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--no-color",
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "use_after_free",  # run as HOOKS' use_after_free_but_emptied_lists
                "--header",
                f"Authorization: Bearer {made.stdout.strip()}",
                "--max-examples",
                MAX_EXAMPLES[request.node.callspec.params["fuzz_env"]],
                "--phases",
                PHASES[request.node.callspec.params["fuzz_env"]],
                "--seed",
                SEED,
                "--workers",
                "1",
                "--request-timeout",
                "10",
            ],
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        report = run.stdout[-6000:]
        assert run.returncode == 0, f"{report}\n{run.stderr[-2000:]}\n{server.output()}"
        assert "No issues found" in run.stdout, report
        assert "31 selected / 31 total" in run.stdout, report  # every operation was fuzzed
