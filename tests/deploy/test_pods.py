"""The production topology as pods: the rendered `dev` overlay played with `podman kube play`
(api, redirect, analytics, the migrate Job) next to PostgreSQL and Redis made from Debian's
packages, on a network of its own; a click goes through the redirect to the stats.

What kube play (podman 4.3) cannot run is changed, and each change is said here:
- a Deployment becomes one Pod named as its Service: pod names resolve on a podman network,
  Services do not exist (nor their load balancing over replicas);
- the migrate Job becomes a Pod (restartPolicy Never), played and awaited before the services,
  as deploy/ci/deploy.sh waits for it;
- the Secret is a directory of files (mode 0440, group 10001: what defaultMode 288 and fsGroup
  give) mounted where the Secret volume would be: podman 4.3 mounts a kube Secret's values
  base64-encoded, every key whatever `items` says, and panics without `optional`;
- the api and redirect ports are published on 127.0.0.1 (hostPort) for the test to reach;
- HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy, Ingress, CronJob, Namespace,
  ServiceAccount: not played (no controller here); `tests/deploy/test_k8s.py` validates them.
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.container_images import (
    DATASTORES,
    Image,
    build_lock,
    ensure_datastores_image,
    podman,
)
from tests.deploy.programs import K8S, require
from tests.e2e.processes import free_port

PLAYED = {"ConfigMap", "Deployment", "Job"}
NOT_PLAYED = {
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "CronJob",
    "Namespace", "ServiceAccount", "Service",
}  # fmt: skip
PG_START = (
    "set -e; pg=$(ls -d /usr/lib/postgresql/*/bin); install -d -o postgres /tmp/pg;"
    " runuser -u postgres -- $pg/initdb -D /tmp/pg -U postgres --auth=trust >/dev/null;"
    " echo 'host all all all trust' >> /tmp/pg/pg_hba.conf;"
    " exec runuser -u postgres -- $pg/postgres -D /tmp/pg -c listen_addresses=* -k /tmp"
)
SECRETS = {
    "database-url": "postgresql+asyncpg://postgres@postgres:5432/postgres",
    "redis-url": "redis://redis:6379/0",
    "internal-token": "pods-internal-token",
    "visitor-salt-secret": "pods-visitor-salt",
}
HOST = "surge.localtest.me"  # the dev overlay's SURGE_PUBLIC_URL: the default domain
WAIT_S = 90.0


def rendered() -> list[dict[str, Any]]:
    done = subprocess.run(
        [require("kubectl"), "kustomize", str(K8S / "overlays" / "dev")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def as_pod(workload: dict[str, Any], name: str, image: str, secrets: Path) -> dict[str, Any]:
    """The workload's pod template as a Pod called `name`, changed as the module says."""
    spec = copy.deepcopy(workload["spec"]["template"]["spec"])
    for volume in spec["volumes"]:
        if "secret" in volume:
            del volume["secret"]
            volume["hostPath"] = {"path": str(secrets), "type": "Directory"}
    for container in spec["containers"]:
        container["image"] = image
        for port in container.get("ports", []):
            port.update(hostPort=free_port(), hostIP="127.0.0.1")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def datastore(name: str, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": name, "image": DATASTORES, "command": command}]},
    }


@dataclass
class Topology:
    api: str
    redirect: str
    kinds: set[str]


def wait_for(what: str, ready: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {WAIT_S:.0f} s")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def exited(container: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Status}}", container, check=False)
    return state.stdout.strip() in ("exited", "stopped")


@pytest.fixture(scope="module")
def topology(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with build_lock():  # made by the run's warm-up (tests/deploy/image_warmup.py) if it could
        ensure_datastores_image()
    secrets = tmp_path_factory.mktemp("secrets")
    secrets.chmod(0o755)
    for key, value in SECRETS.items():
        (secrets / key).write_text(value)
        os.chown(secrets / key, 0, 10001)
        (secrets / key).chmod(0o440)
    docs = rendered()
    kinds = {doc["kind"] for doc in docs}
    config = [doc for doc in docs if doc["kind"] == "ConfigMap"]
    workloads = {
        doc["metadata"]["name"]: doc for doc in docs if doc["kind"] in PLAYED - {"ConfigMap"}
    }
    run = uuid.uuid4().hex[:8]
    network = f"surge-test-{run}"
    plays = tmp_path_factory.mktemp("plays")
    played: list[Path] = []

    def play(name: str, *pods: dict[str, Any]) -> None:
        path = plays / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all([*config, *pods]))
        played.append(path)
        podman("kube", "play", "--network", network, str(path), timeout_s=120)

    podman("network", "create", network)
    try:
        redis = ["redis-server", "--protected-mode", "no", "--save", ""]
        play("datastores", datastore("postgres", ["sh", "-c", PG_START]), datastore("redis", redis))
        wait_for("PostgreSQL", lambda: podman(
            "exec", "postgres-postgres", "pg_isready", "-q", "-h", "127.0.0.1", check=False
        ).returncode == 0)  # fmt: skip
        play("migrate", as_pod(workloads["surge-migrate"], "surge-migrate", image.tag, secrets))
        wait_for("the migrate Job", lambda: exited("surge-migrate-migrate"))
        migrated = podman("inspect", "--format", "{{.State.ExitCode}}", "surge-migrate-migrate")
        assert migrated.stdout.strip() == "0", podman("logs", "surge-migrate-migrate").stderr
        pods = {name: as_pod(workloads[name], name, image.tag, secrets)
                for name in ("surge-api", "surge-redirect", "surge-analytics")}  # fmt: skip
        play("services", *pods.values())
        api, redirect = (
            f"http://127.0.0.1:{pods[name]['spec']['containers'][0]['ports'][0]['hostPort']}"
            for name in ("surge-api", "surge-redirect")
        )
        for url in (api, redirect):
            wait_for(f"{url}/readyz", lambda url=url: answers(f"{url}/readyz"))
        yield Topology(api, redirect, kinds)
    finally:
        for path in reversed(played):
            podman("kube", "down", str(path), check=False, timeout_s=120)
        podman("network", "rm", "--force", network, check=False)


def test_what_kube_play_runs_and_what_it_cannot(topology: Topology) -> None:
    print(f"\nplayed: {sorted(PLAYED)}; not played: {sorted(topology.kinds - PLAYED)}")
    assert topology.kinds - PLAYED == NOT_PLAYED  # a new kind: say here whether it plays


def test_a_click_goes_through_the_redirect_to_the_stats(topology: Topology) -> None:
    made = podman("exec", "surge-api-api", "surge", "keys", "create", "--name", "pods")
    key = {"Authorization": f"Bearer {made.stdout.strip()}"}
    created = httpx.post(
        f"{topology.api}/api/v1/links", json={"url": "https://example.com/pods"}, headers=key
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    followed = httpx.get(f"{topology.redirect}/{slug}", headers={"Host": HOST})
    assert followed.status_code == 302, followed.text
    assert followed.headers["location"] == "https://example.com/pods"

    def counted() -> bool:
        stats = httpx.get(f"{topology.api}/api/v1/links/{slug}/stats", headers=key)
        return bool(stats.json()["total"] == 1)

    wait_for("the click in the stats (redirect, Redis stream, analytics, PostgreSQL)", counted)
