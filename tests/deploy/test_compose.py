"""compose.yaml: valid for the Compose specification (its JSON schema, as `docker compose
config` checks it), every long-running service health-checked, a start-up order that holds,
wiring that points at services and ports that exist, no secret written in it, and the
development secrets it makes at start-up.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.programs import (
    COMPOSE,
    DEV_SECRETS,
    ROOT,
    compose,
    load_yaml,
    output,
    run,
    serve_port,
    serve_service,
    start_order,
)

SERVICES = compose()["services"]


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path))


def test_compose_file_is_valid_for_the_compose_specification() -> None:
    done = check_compose(COMPOSE)
    assert done.returncode == 0, output(done)


def test_the_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    """The check bites: an unknown key in a service, and a bad depends_on condition."""
    broken = compose()
    broken["services"]["api"]["restart_policy"] = "always"
    broken["services"]["nginx"]["depends_on"]["api"]["condition"] = "service_ready"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = check_compose(path)
    assert done.returncode != 0, output(done)
    assert "restart_policy" in done.stdout + done.stderr


def one_shots() -> set[str]:
    """Services that run once and exit (others wait for them to have succeeded)."""
    return {name for name, service in SERVICES.items() if service.get("restart") == "no"}


def test_the_topology_is_complete() -> None:
    for name in ("postgres", "redis", "migrate", "api", "analytics", "nginx", "prometheus"):
        assert name in SERVICES, name
    for name in ("alertmanager", "grafana", "jaeger"):
        assert name in SERVICES, name
    redirects = [name for name in SERVICES if serve_service(name) == "redirect"]
    assert len(redirects) == 2, redirects


@pytest.mark.parametrize("name", sorted(set(SERVICES) - one_shots()))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL"), check["test"]
    assert {"interval", "timeout", "retries"} <= set(check)


def test_one_shots_are_awaited_to_have_succeeded() -> None:
    """A one-shot that a long-running service waits for (service_completed_successfully) is
    what lets `docker compose up --wait` return 0 once it has exited."""
    assert one_shots() == {"secrets", "migrate"}
    for one_shot in one_shots():
        adopters = [
            name
            for name, service in SERVICES.items()
            if name not in one_shots() and one_shot in service.get("depends_on", {})
        ]
        assert adopters, f"no long-running service waits for {one_shot}"
    for name, service in SERVICES.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            condition = how["condition"]
            if dependency in one_shots():
                assert condition == "service_completed_successfully", (name, dependency)
            elif condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], (name, dependency)


def test_start_up_order() -> None:
    order = start_order()

    def before(first: str, then: str) -> bool:
        return order.index(first) < order.index(then)

    assert before("secrets", "postgres")
    assert before("postgres", "migrate")
    for name in ("api", "analytics"):
        assert before("migrate", name)
    for name in surge_services():
        assert before(name, "nginx"), "nginx waits for every upstream"
    needs = {
        "migrate": {"postgres"},
        "api": {"migrate", "redis"},
        "analytics": {"migrate", "redis"},
        "nginx": set(surge_services()) - {"analytics"},
    }
    for name, required in needs.items():
        # Directly, with a condition that waits: not only by chance of the order.
        assert required <= set(SERVICES[name]["depends_on"]), name


def serve_host_port(name: str) -> int:
    command = SERVICES[name]["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0", "reachable from other containers"
    return serve_port(name)


def surge_services() -> list[str]:
    return [name for name in SERVICES if serve_service(name)]


@pytest.mark.parametrize("name", surge_services())
def test_a_surge_service_checks_its_own_readiness(name: str) -> None:
    env = SERVICES[name]["environment"]
    url = urlsplit(env["SURGE_HEALTHCHECK_URL"])
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", serve_host_port(name), "/readyz")
    assert SERVICES[name]["image"] == SERVICES["migrate"]["image"], "one image"
    assert SERVICES[name].get("read_only") is True
    assert SERVICES[name].get("cap_drop") == ["ALL"]


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def assert_points_at_surge(address: str, service: str, why: str) -> None:
    host, port = host_port(address)
    assert host in SERVICES, f"{why}: no service {host}"
    assert serve_service(host) == service, f"{why}: {host} does not serve {service}"
    assert serve_port(host) == port, f"{why}: {host} listens on {serve_port(host)}, not {port}"


def test_service_urls_point_at_the_services() -> None:
    for name in surge_services():
        env = SERVICES[name]["environment"]
        api, analytics = urlsplit(env["SURGE_API_URL"]), urlsplit(env["SURGE_ANALYTICS_URL"])
        assert_points_at_surge(api.netloc, "api", f"{name} SURGE_API_URL")
        assert_points_at_surge(analytics.netloc, "analytics", f"{name} SURGE_ANALYTICS_URL")
        redis = urlsplit(env["SURGE_REDIS_URL"])
        assert redis.hostname == "redis"
        assert redis.port == 6379
        assert env["SURGE_CLIENT_IP_HEADER"] == "x-real-ip", "the header nginx sets"
        public = urlsplit(env["SURGE_PUBLIC_URL"])
        published = [p for p in SERVICES["nginx"]["ports"] if p.endswith(":80")]
        assert published == [f"127.0.0.1:{public.port}:80"], "the public URL is nginx's"


def test_nginx_upstreams_are_the_api_and_every_redirect() -> None:
    env = SERVICES["nginx"]["environment"]
    assert_points_at_surge(env["API_UPSTREAM"], "api", "nginx API_UPSTREAM")
    redirects = {value for key, value in env.items() if key.startswith("REDIRECT_UPSTREAM_")}
    for address in redirects:
        assert_points_at_surge(address, "redirect", "nginx REDIRECT_UPSTREAM_*")
    assert {host_port(a)[0] for a in redirects} == {
        name for name in SERVICES if serve_service(name) == "redirect"
    }


def test_prometheus_scrapes_every_surge_service_and_alerts_alertmanager() -> None:
    config = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {f"{name}:{serve_port(name)}" for name in surge_services()}
    assert targets == expected
    (alerting,) = config["alerting"]["alertmanagers"]
    (target,) = alerting["static_configs"][0]["targets"]
    host, port = host_port(target)
    assert host in SERVICES
    assert f"127.0.0.1:{port}:{port}" in SERVICES[host]["ports"]


def mounts(name: str) -> list[tuple[str, str]]:
    found = []
    for volume in SERVICES[name].get("volumes", []):
        source, target = volume.split(":")[:2]
        found.append((source, target))
    return found


def test_mounted_files_exist_and_named_volumes_are_declared() -> None:
    declared = set(compose()["volumes"])
    for name in SERVICES:
        for source, _target in mounts(name):
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_grafana_finds_the_dashboard_where_provisioning_looks() -> None:
    provider = load_yaml(ROOT / "deploy/grafana/provisioning/dashboards/surge.yml")
    path = provider["providers"][0]["options"]["path"]
    assert ("./deploy/grafana/dashboards", path) in mounts("grafana")
    datasource = load_yaml(ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml")
    url = urlsplit(datasource["datasources"][0]["url"])
    assert url.hostname == "prometheus"
    assert f"127.0.0.1:{url.port}:{url.port}" in (SERVICES["prometheus"]["ports"])


SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|DATABASE_URL|KEY$", re.IGNORECASE)


def test_no_secret_is_written_in_the_file() -> None:
    """Secrets are files of the `secrets` volume, made at start-up: only *_FILE names here."""
    for name, service in SERVICES.items():
        for key in service.get("environment", {}):
            if SECRET_NAME.search(key):
                assert key.endswith(("_FILE", "__FILE")), f"{name}: {key} holds a secret"
    text = COMPOSE.read_text()
    assert "dev-internal-token" not in text
    assert "change-me" not in text


def test_secret_files_are_the_ones_the_secrets_service_makes(tmp_path: Path) -> None:
    made = make_dev_secrets(tmp_path)
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/surge/"), (name, key)
                assert value.removeprefix("/run/surge/") in made, (name, key, value)
                assert ("secrets", "/run/surge") in mounts(name), f"{name} reads {value}"


def make_dev_secrets(directory: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, str(DEV_SECRETS), str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, output(done)
    return {path.name for path in directory.iterdir()}


def test_dev_secrets_are_random_kept_across_restarts_and_readable(tmp_path: Path) -> None:
    made = make_dev_secrets(tmp_path / "a")
    first = {name: (tmp_path / "a" / name).read_text() for name in made}
    assert made == {
        "internal-token",
        "visitor-salt-secret",
        "postgres-password",
        "grafana-admin-password",
        "database-url",
    }
    for name, value in first.items():
        assert len(value.strip()) >= 32, name
        mode = stat.S_IMODE((tmp_path / "a" / name).stat().st_mode)
        assert mode == 0o444, (name, oct(mode))
    assert make_dev_secrets(tmp_path / "a") == made
    assert {name: (tmp_path / "a" / name).read_text() for name in made} == first, "kept"
    make_dev_secrets(tmp_path / "b")
    assert (tmp_path / "b" / "internal-token").read_text() != first["internal-token"]
    assert len({first[name] for name in made}) == len(made), "each its own value"


def test_the_database_url_matches_the_postgres_service(tmp_path: Path) -> None:
    make_dev_secrets(tmp_path)
    url = urlsplit((tmp_path / "database-url").read_text().strip())
    password = (tmp_path / "postgres-password").read_text().strip()
    env: dict[str, Any] = SERVICES["postgres"]["environment"]
    assert url.scheme == "postgresql+asyncpg"
    assert (url.username, url.password) == (env["POSTGRES_USER"], password)
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{env['POSTGRES_DB']}")
