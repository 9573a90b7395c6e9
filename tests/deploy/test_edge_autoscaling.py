"""A real Prometheus, relabelling the edge stack's processes as on Kubernetes, serves the queries
the autoscalers' metrics are made of (deploy/k8s/monitoring)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.edge_stack import (
    Process,
    Stack,
    create_link,
    edge_client,
    redirect_replicas,
    wait_until,
)
from tests.deploy.programs import (
    ADAPTER_VALUES,
    compose_services,
    k8s_scrape_configs,
    load_yaml,
    pod_target,
    require,
    serve_service,
)
from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e


# --- autoscaling metrics -----------------------------------------------------------------------


@contextmanager
def prometheus_scraping(stack: Stack, tmp: Path) -> Iterator[str]:
    """A real Prometheus scraping the stack as if its processes were pods (relabelled by
    deploy/k8s/monitoring/prometheus-scrape.yml); yields its URL."""
    binary = require("prometheus")
    apps = {"api": "surge-api", "redirect": "surge-redirect", "analytics": "surge-analytics"}
    targets = [
        pod_target(stack.url(name).removeprefix("http://"), apps[str(serve_service(name))], name)
        for name in compose_services()
        if serve_service(name)
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": k8s_scrape_configs(targets),
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process = Process("prometheus", popen, log)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "prometheus", process=process)
        yield url
    finally:
        process.stop(10)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200, f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def adapter_query(rule: dict[str, Any], matchers: str, group_by: str) -> str:
    series = re.match(r"(\w+)\{", rule["seriesQuery"])
    assert series
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", series.group(1))
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", group_by)
    )


def test_the_autoscalers_metrics_come_out_of_prometheus(
    stack: Stack, key: dict[str, str], tmp_path: Path
) -> None:
    """What prometheus-adapter would ask Prometheus for the redirect HPA (requests per second
    per pod) and the analytics HPA (stream lag), with the labels the Kubernetes relabelling
    gives: one rate per redirect pod, above 0 under traffic; one lag for the namespace."""
    rules = load_yaml(ADAPTER_VALUES)["rules"]
    (custom,) = rules["custom"]
    (external,) = rules["external"]
    pods = "|".join(redirect_replicas())
    rps = adapter_query(custom, f'namespace="surge",pod=~"{pods}"', "pod")
    lag = adapter_query(external, 'namespace="surge"', "namespace")
    slug = create_link(stack, key, "https://example.com/edge/autoscaling")
    with prometheus_scraping(stack, tmp_path) as prometheus, edge_client(stack) as client:
        wait_until(
            lambda: len(query(prometheus, 'up{namespace="surge"} == 1')) == 4,
            "every pod scraped, labelled by namespace and pod",
        )
        jobs = {r["metric"]["job"] for r in query(prometheus, 'up{namespace="surge"}')}
        assert jobs == {"surge-api", "surge-redirect", "surge-analytics"}

        def every_pod_has_a_rate() -> bool:
            for _ in range(10):
                assert client.get(f"/{slug}").status_code == 302
            result = query(prometheus, rps)
            return {r["metric"]["pod"] for r in result} == set(redirect_replicas()) and all(
                float(r["value"][1]) > 0 for r in result
            )

        wait_until(every_pod_has_a_rate, "a request rate for each redirect pod")
        wait_until(lambda: len(query(prometheus, lag)) == 1, "the stream lag of the namespace")
        (series,) = query(prometheus, lag)
        assert series["metric"] == {"namespace": "surge"}
        assert float(series["value"][1]) >= 0
