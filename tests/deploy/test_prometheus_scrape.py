"""A real Prometheus, with the repository's rules, scrapes a real all-in-one `surge serve`.

One Prometheus and one Surge for the module, on free loopback ports, in a temp dir: the target
is up, redirects are counted exactly, every rule and every dashboard query evaluates without
error, and the dashboard's key panels show the traffic.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from tests.deploy.monitoring import (
    PROMETHEUS_CONFIG,
    PROMETHEUS_DIR,
    grafana_expr,
    load_yaml,
    panel_queries,
    require_program,
    rule_queries,
    variable_queries,
)
from tests.e2e.processes import create_key, free_port, serve, surge_env
from tests.helpers import BROWSER_UA, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
REDIRECTS = 25
JOB = "surge"


@dataclass
class Stack:
    surge: str
    prometheus: str


def prometheus_config(tmp_path: Path, target: str) -> Path:
    """The repository's config and rules, scraping `target` every second."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    config["scrape_configs"] = [{"job_name": JOB, "static_configs": [{"targets": [target]}]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_prometheus(tmp_path: Path, target: str, timeout_s: float = 20.0) -> Iterator[str]:
    """Prometheus on a free loopback port with its storage in `tmp_path`; yields its URL."""
    binary = require_program("prometheus")
    port = free_port()
    log = tmp_path / "prometheus.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={prometheus_config(tmp_path, target)}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not ready(url):
            if process.poll() is not None:
                pytest.fail(f"prometheus exited early:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus not ready after {timeout_s}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def ready(url: str) -> bool:
    """Prometheus answers /-/ready."""
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Surge with one link redirected REDIRECTS times, scraped by Prometheus.

    Prometheus sees the first redirect before the others are sent: a series' first sample is
    its baseline, and only what comes after it shows in rates (the dashboard's)."""
    require_program("prometheus")
    tmp_path = tmp_path_factory.mktemp("scrape")
    port = free_port()
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}")
    key = create_key(env)
    with (
        serve(tmp_path, "all", port, env) as surge,
        running_prometheus(tmp_path, f"127.0.0.1:{port}") as prometheus,
    ):
        stack = Stack(surge.url, prometheus)
        async with httpx.AsyncClient(headers={"user-agent": BROWSER_UA}) as client:
            created = await client.post(
                f"{surge.url}/api/v1/links", json={"url": "https://example.com/m"}, headers=key
            )
            assert created.status_code == 201, created.text
            link = f"{surge.url}/{created.json()['slug']}"
            assert (await client.get(link)).status_code == 302
            await wait_for(
                lambda: redirects_counted(stack, 1), timeout_s=15, what="the first redirect"
            )
            statuses = [(await client.get(link)).status_code for _ in range(REDIRECTS - 1)]
        assert statuses == [302] * (REDIRECTS - 1)
        yield stack


async def query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    """An instant query through Prometheus's HTTP API; fails the test on any error."""
    async with httpx.AsyncClient(base_url=stack.prometheus, timeout=10.0) as client:
        response = await client.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200, f"{expr}\n→ {body.get('errorType')}: {body.get('error')}"
    assert body["status"] == "success", body
    assert not body.get("warnings"), body["warnings"]
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def values(result: list[dict[str, Any]]) -> list[float]:
    return [float(sample["value"][1]) for sample in result]


async def redirects_counted(stack: Stack, expected: int) -> bool:
    """Prometheus counts `expected` redirects answered 302; fails if it counts more."""
    expr = 'sum(surge_http_requests_total{service="redirect", route="/{slug}", status="302"})'
    seen = values(await query(stack, expr))
    assert not seen or seen[0] <= expected, f"counted {seen[0]} redirects, sent {expected}"
    return seen == [expected]


async def test_prometheus_scrapes_surge(stack: Stack) -> None:
    async def up() -> bool:
        return values(await query(stack, f'up{{job="{JOB}"}}')) == [1.0]

    await wait_for(up, timeout_s=15, what="the surge target to be up")


async def test_redirects_are_counted_exactly(stack: Stack) -> None:
    await wait_for(
        lambda: redirects_counted(stack, REDIRECTS),
        timeout_s=15,
        what=f"Prometheus to count {REDIRECTS} redirects",
    )


async def test_every_rule_loads_and_evaluates_without_error(stack: Stack) -> None:
    async def rules() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=stack.prometheus) as client:
            body = (await client.get("/api/v1/rules")).json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    async def all_evaluated() -> bool:
        loaded = await rules()
        return bool(loaded) and all(rule["health"] != "unknown" for rule in loaded)

    await wait_for(all_evaluated, timeout_s=15, what="every rule to be evaluated once")
    loaded = await rules()
    assert {rule["name"] for rule in loaded} == set(rule_queries())
    failed = {rule["name"]: rule.get("lastError") for rule in loaded if rule["health"] != "ok"}
    assert not failed


@pytest.mark.parametrize("name", sorted(rule_queries()))
async def test_rule_expression_evaluates(stack: Stack, name: str) -> None:
    await query(stack, rule_queries()[name])


@pytest.mark.parametrize("name", sorted(panel_queries()))
async def test_dashboard_query_evaluates(stack: Stack, name: str) -> None:
    await query(stack, grafana_expr(panel_queries()[name]))


@pytest.mark.parametrize("name", sorted(variable_queries()))
async def test_dashboard_variable_has_values(stack: Stack, name: str) -> None:
    selector, label = variable_queries()[name]
    result = await query(stack, selector)
    assert result, f"${name}: {selector} matches no series"
    assert all(label in sample["metric"] for sample in result)


@pytest.mark.parametrize(
    ("panel", "series"),
    [
        ("Request rate/A", {"service": "redirect"}),
        (
            "Requests by route and status/A",
            {"service": "redirect", "route": "/{slug}", "status": "302"},
        ),
        ("Clicks/s: recorded vs ingested/A", {}),
        ("Clicks/s: recorded vs ingested/B", {}),
    ],
)
async def test_key_panels_show_the_traffic(
    stack: Stack, panel: str, series: dict[str, str]
) -> None:
    """The redirects (and the clicks they recorded, and analytics ingested) are on the
    dashboard: a series with those labels, above 0."""
    expr = grafana_expr(panel_queries()[panel])

    async def shown() -> bool:
        result = await query(stack, expr)
        return any(
            series.items() <= sample["metric"].items() and float(sample["value"][1]) > 0
            for sample in result
        )

    await wait_for(shown, timeout_s=15, what=f"panel {panel} to show the redirects")
