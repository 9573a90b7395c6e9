"""The real image: the unchanged Dockerfile built with podman (tests/deploy/container_images.py)
and run as Kubernetes runs it: read-only root, no capabilities, no new privileges, uid 10001,
secrets from SURGE_*_FILE mounts, a writable data directory mounted in.

One container for the module (its data directory survives `podman stop`/`start`, as an
emptyDir survives a container restart); the tests run in order against it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.deploy.container_images import Image, podman
from tests.e2e.processes import free_port

# Kubernetes' restricted profile, as deploy/k8s/base's securityContext asks for it.
RESTRICTED = (
    "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--pull=never",
)  # fmt: skip
SECRETS = {"internal-token": "image-internal-token", "visitor-salt-secret": "image-visitor-salt"}
START_S = 60.0


def run_container(image: Image, *args: str, detach: bool = True) -> str:
    """`podman run` of the image under the restricted profile; the container's id (or with
    detach=False, its output once it exits)."""
    flags = ["--detach"] if detach else ["--rm"]
    done = podman("run", *flags, "--label", image.label, *RESTRICTED, *args, timeout_s=120,
                  check=detach)  # fmt: skip
    return done.stdout.strip() if detach else f"exit {done.returncode}\n{done.stderr}"


@dataclass
class Surge:
    container: str
    url: str

    def exec(self, *command: str) -> str:
        return podman("exec", self.container, *command).stdout.strip()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                state = podman("inspect", "--format", "{{.State.Status}}", self.container)
                if state.stdout.strip() != "running":
                    break
            time.sleep(0.2)
        logs = podman("logs", self.container, check=False)
        pytest.fail(f"not ready (in {START_S:.0f} s at most):\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module")
def surge(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Surge:
    secrets = tmp_path_factory.mktemp("secrets")
    secrets.chmod(0o755)
    for name, value in SECRETS.items():  # as the manifests mount them: 0440, the fsGroup's
        (secrets / name).write_text(value)
        os.chown(secrets / name, 0, 10001)
        (secrets / name).chmod(0o440)
    data = tmp_path_factory.mktemp("data")
    data.chmod(0o777)  # as the kubelet makes an emptyDir
    port = free_port()
    container = run_container(
        image,
        "--publish", f"127.0.0.1:{port}:8000",
        "--volume", f"{secrets}:/run/secrets/surge:ro",
        "--volume", f"{data}:/var/lib/surge",
        "--env", "SURGE_INTERNAL_TOKEN_FILE=/run/secrets/surge/internal-token",
        "--env", "SURGE_VISITOR_SALT_SECRET_FILE=/run/secrets/surge/visitor-salt-secret",
        "--env", f"SURGE_PUBLIC_URL=http://127.0.0.1:{port}",
        "--env", "SURGE_BOOTSTRAP_ADMIN_KEY=false",
        # Clicks stay buffered until the shutdown: only a graceful stop can count them.
        "--env", "SURGE_CLICK_FLUSH_INTERVAL_MS=60000",
        "--env", "SURGE_CLICK_BATCH_SIZE=100000",
        image.tag,  # its default command: serve on 0.0.0.0:8000, as Kubernetes runs it
    )  # fmt: skip
    running = Surge(container, f"http://127.0.0.1:{port}")
    running.wait_ready()
    return running


def test_the_image_builds_and_reports_its_size(image: Image) -> None:
    made = image.made or "none"  # by the fixture; the run's warm-up says what it made in its log
    print(f"\nbuilt in {image.build_s:.1f} s (bases made: {made}); image {image.size_mb:.0f} MB")
    assert image.size_mb < 600
    labels = podman("image", "inspect", "--format", "{{.Config.Healthcheck.Test}}", image.tag)
    assert "SURGE_HEALTHCHECK_URL" in labels.stdout  # the Docker format kept the HEALTHCHECK


def test_it_runs_unprivileged_on_a_read_only_root(surge: Surge) -> None:
    assert surge.exec("id", "-u") == "10001"
    status = surge.exec("cat", "/proc/1/status")
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status
    wrote = podman("exec", surge.container, "touch", "/opt/surge/x", check=False)
    assert wrote.returncode != 0
    assert "Read-only file system" in wrote.stderr


def test_health_readiness_and_the_healthcheck(surge: Surge) -> None:
    for path in ("/healthz", "/readyz"):
        assert httpx.get(f"{surge.url}{path}").status_code == 200, path
    assert podman("healthcheck", "run", surge.container, check=False).returncode == 0


def test_a_click_is_counted_across_a_graceful_stop(surge: Surge) -> None:
    key = {"Authorization": f"Bearer {surge.exec('surge', 'keys', 'create', '--name', 'image')}"}
    created = httpx.post(
        f"{surge.url}/api/v1/links", json={"url": "https://example.com/image"}, headers=key
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    for _ in range(3):
        followed = httpx.get(f"{surge.url}/{slug}")
        assert followed.status_code == 302
        assert followed.headers["location"] == "https://example.com/image"
    stats = f"{surge.url}/api/v1/links/{slug}/stats"
    assert httpx.get(stats, headers=key).json()["total"] == 0  # still buffered

    podman("stop", "--time", "30", surge.container, timeout_s=60)  # SIGTERM; SIGKILL at 30 s
    state = podman("inspect", "--format", "{{.State.ExitCode}}", surge.container).stdout
    assert state.strip() == "0"  # a graceful exit, not SIGKILL's 137
    podman("start", surge.container)
    surge.wait_ready()
    assert httpx.get(stats, headers=key).json()["total"] == 3


def test_a_tmpfs_data_directory_works(image: Image) -> None:
    """A tmpfs over /var/lib/surge comes up root-owned (runc keeps only the directory's mode):
    the image's 1777 keeps it writable for uid 10001, so SQLite and its migration lock work."""
    done = run_container(
        image, "--tmpfs", "/var/lib/surge", "--entrypoint", "sh", image.tag, "-c",
        "surge migrate && surge keys create --name tmpfs >/dev/null && stat -c %U /var/lib/surge",
        detach=False,
    )  # fmt: skip
    assert done.startswith("exit 0"), done


def test_the_default_secrets_are_refused_on_every_interface(image: Image) -> None:
    done = run_container(image, image.tag, detach=False)
    assert done.startswith("exit 2"), done
    assert "SURGE_INTERNAL_TOKEN" in done
