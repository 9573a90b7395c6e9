"""compose.yaml's topology without Docker: the same processes, with the same commands,
settings, secrets and health checks, on loopback, behind a real nginx running the repository's
edge config (deploy/nginx/templates/default.conf.template, rendered as the nginx image does).

Read from compose.yaml and translated: `host:port` of a service becomes 127.0.0.1 and a free
port, a volume becomes a folder of the test's, `${VAR:-default}` its default. Substituted:
PostgreSQL and Redis are the machine's (a throwaway database, a key prefix of the test's own;
tests/services.py), and Prometheus, Alertmanager, Grafana and Jaeger do not run (their configs
are checked in test_prometheus_*, test_alertmanager, test_compose; tracing is off).

Then, through nginx: /api/ reaches the api, short links the redirect replicas (both of them),
/internal/ and /metrics nothing; clicks are counted once per click and per visitor (the client
address nginx passes in X-Real-IP); a link change reaches both replicas; a replica can stop
without a failed redirect; deploy/ci/smoke.py passes; and a real Prometheus, relabelling as on
Kubernetes, serves the queries the autoscalers' metrics are made of.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from redis import Redis

from tests.deploy.programs import (
    ADAPTER_VALUES,
    CI_SCRIPTS,
    NGINX_TEMPLATE,
    ROOT,
    compose_services,
    k8s_scrape_configs,
    load_yaml,
    output,
    pod_target,
    require,
    run,
    serve_service,
)
from tests.e2e.processes import free_port
from tests.helpers import BROWSER_UA
from tests.services import REDIS_URL, database_for_processes, require_postgres, require_redis

pytestmark = pytest.mark.e2e
EXTERNAL = {"postgres", "redis"}  # the machine's servers stand for these
NOT_RUN = {"prometheus", "alertmanager", "grafana", "jaeger"}
NGINX = "nginx"
START_S = 90.0  # a Surge process starting on a busy 2-core machine (a deadline, not a wait)


def wait_until(check: Any, what: str, timeout_s: float = 30.0, process: Any = None) -> None:
    """Poll `check` until it is true; fail at the deadline, or as soon as `process` exits."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if process is not None and process.popen.poll() is not None:
            pytest.fail(f"{process.name} exited while waiting for {what}:\n{process.output()}")
        if time.monotonic() > deadline:
            extra = f":\n{process.output()}" if process is not None else ""
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}{extra}")
        time.sleep(0.05)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (as `docker compose stop` does), then SIGKILL at the deadline."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


@dataclass
class Stack:
    """compose.yaml's topology on loopback."""

    tmp: Path
    addresses: dict[str, str]  # "api:8001" -> "127.0.0.1:40123"
    redis_prefix: str
    processes: dict[str, Process] = field(default_factory=dict)
    edge: str = ""

    def url(self, service: str) -> str:
        (address,) = [a for key, a in self.addresses.items() if key.split(":")[0] == service]
        return f"http://{address}"

    # --- translating compose.yaml --------------------------------------------------------------

    def volume(self, source: str) -> Path:
        if source.startswith("./"):
            return ROOT / source
        path = self.tmp / "volumes" / source
        path.mkdir(parents=True, exist_ok=True)
        return path

    def local(self, service: str, value: str) -> str:
        """A value of compose.yaml as it is seen here: interpolated, addresses and mounts
        translated."""
        value = re.sub(
            r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1), m.group(2)), value
        )
        addresses = dict(self.addresses)
        if serve_service(service):  # its own port, as it reaches itself (the healthcheck)
            command = compose_services()[service]["command"]
            port = command[command.index("--port") + 1]
            addresses[f"127.0.0.1:{port}"] = self.addresses[f"{service}:{port}"]
        for address, local in sorted(addresses.items(), key=lambda i: -len(i[0])):
            value = re.sub(rf"(?<![\w.-]){re.escape(address)}(?!\d)", local, value)
        for mount in compose_services()[service].get("volumes", []):
            source, target = mount.split(":")[:2]
            if value == target or value.startswith(target + "/"):
                value = str(self.volume(source)) + value[len(target) :]
        return value

    def environment(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "OTEL_"))}
        for key, value in compose_services()[service].get("environment", {}).items():
            if not key.startswith("OTEL_"):  # no Jaeger here: tracing stays off
                env[key] = self.local(service, str(value))
        if "SURGE_REDIS_URL" in env:
            env.update(SURGE_REDIS_URL=REDIS_URL, SURGE_REDIS_PREFIX=self.redis_prefix)
        env["SURGE_LOG_LEVEL"] = "warning"
        return env

    def command(self, service: str) -> list[str]:
        definition = compose_services()[service]
        command = [*(definition.get("entrypoint") or ["surge"]), *definition.get("command", [])]
        command = [self.local(service, part) for part in command]
        if "--host" in command:
            command[command.index("--host") + 1] = "127.0.0.1"
            port = command.index("--port") + 1
            command[port] = self.local(service, f"{service}:{command[port]}").rsplit(":", 1)[1]
        if command[0] == "python":
            return [sys.executable, *command[1:]]
        assert command[0] == "surge", command
        return [sys.executable, "-m", "surge.cli", *command[1:]]

    # --- running it ----------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Every process, the last started first (nginx, then the replicas, ...)."""
        for process in reversed(list(self.processes.values())):
            process.stop()

    def one_shot(self, service: str) -> None:
        done = subprocess.run(
            self.command(service),
            env=self.environment(service),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{service}: {output(done)}"

    def launch(self, service: str) -> Process:
        log = self.tmp / f"{service}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                self.command(service),
                env=self.environment(service),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(service, popen, log)
        self.processes[service] = process
        return process

    def answers(self, service: str) -> bool:
        """The URL its healthcheck asks answers 200 (polled here: a Python process per poll,
        as the healthcheck runs, would take the CPU the services start with)."""
        process = self.processes[service]
        if process.popen.poll() is not None:
            pytest.fail(f"{service} exited:\n{process.output()}")
        try:
            url = self.environment(service)["SURGE_HEALTHCHECK_URL"]
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, service: str) -> None:
        wait_until(lambda: self.answers(service), f"{service}'s healthcheck", START_S)
        assert self.healthy(service), f"{service}'s healthcheck fails while its URL answers"

    def start(self, service: str) -> Process:
        process = self.launch(service)
        self.wait_healthy(service)
        return process

    def healthy(self, service: str) -> bool:
        """compose.yaml's healthcheck of `service`, run here."""
        test = compose_services()[service]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        command = [sys.executable if part == "python" else part for part in test[1:]]
        done = subprocess.run(
            command,
            env=self.environment(service),
            capture_output=True,
            timeout=10,
            check=False,
        )
        return done.returncode == 0


def render_template(env: dict[str, str]) -> str:
    """What the nginx image's entrypoint does with a template: envsubst of the variables its
    environment defines (nginx's own $variables are not among them and stay)."""
    text = NGINX_TEMPLATE.read_text()
    for name, value in env.items():
        text = text.replace(f"${{{name}}}", value)
    left = re.findall(r"\$\{\w+\}", text)
    assert not left, f"not set in compose.yaml's nginx environment: {left}"
    return text


def nginx_config(stack: Stack, edge: str) -> Path:
    """The rendered template inside a minimal main config of the test's own (pid, logs and
    temp files in the test's folder); returns the main config."""
    nginx = compose_services()[NGINX]
    env = {key: stack.local(NGINX, str(value)) for key, value in nginx["environment"].items()}
    env["EDGE_LISTEN"] = edge  # the container's port 80, published: here a free loopback port
    conf_d = stack.tmp / "nginx" / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "default.conf").write_text(render_template(env))
    temp = stack.tmp / "nginx"
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = temp / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\npid {temp}/nginx.pid;\nevents {{ worker_connections 256; }}\n"
        "http {\n"
        "    access_log off;\n"
        + "".join(
            f"    {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {conf_d}/*.conf;\n}}\n"
    )
    return main


def nginx_args(main: Path) -> list[str]:
    return [require(NGINX), "-p", str(main.parent), "-c", str(main), "-e", "stderr"]


def nginx_test(main: Path) -> subprocess.CompletedProcess[str]:
    return run(NGINX, "-t", *nginx_args(main)[1:])


@contextmanager
def surge_stack(tmp: Path) -> Iterator[Stack]:
    require(NGINX)
    require_postgres()
    require_redis()
    services = compose_services()
    addresses = {}
    for name in services:
        if serve_service(name):
            command = services[name]["command"]
            addresses[f"{name}:{command[command.index('--port') + 1]}"] = f"127.0.0.1:{free_port()}"
    # The published port of nginx's :80 is the public URL (http://localhost:8080).
    published = next(p for p in services[NGINX]["ports"] if p.endswith(":80"))
    edge = f"127.0.0.1:{free_port()}"
    addresses[f"localhost:{published.split(':')[1]}"] = edge
    prefix = f"surge-edge-{uuid.uuid4().hex[:12]}:"
    stack = Stack(tmp, addresses, prefix, edge=f"http://{edge}")
    with ExitStack() as cleanup, database_for_processes() as database_url:
        cleanup.callback(forget_redis_prefix, prefix)
        cleanup.callback(stack.stop_all)
        # As `docker compose up` does: each service once what it depends on is up, those
        # whose dependencies are met together.
        graph = {name: set(s.get("depends_on", {})) for name, s in services.items()}
        order = TopologicalSorter({name: graph[name] for name in graph if name not in NOT_RUN})
        order.prepare()
        starting: set[str] = set()

        def start(name: str) -> None:
            if name == NGINX:
                start_nginx(stack, edge)
            elif services[name].get("restart") == "no":
                stack.one_shot(name)
                if name == "secrets":  # the machine's PostgreSQL in place of compose's
                    url = stack.volume("secrets") / "database-url"
                    url.chmod(0o600)
                    url.write_text(database_url + "\n")
            elif name not in EXTERNAL:
                stack.launch(name)
                starting.add(name)
                return
            order.done(name)

        while order.is_active():
            while ready := order.get_ready():
                for name in ready:
                    start(name)
            if starting:  # the next one up lets what waits for it start
                wait_until(lambda: any(map(stack.answers, starting)), f"{starting}", START_S)
                up = next(name for name in starting if stack.answers(name))
                assert stack.healthy(up), f"{up}'s healthcheck fails while its URL answers"
                starting.remove(up)
                order.done(up)
        assert set(stack.processes) == set(services) - EXTERNAL - NOT_RUN - one_shots()
        yield stack


def one_shots() -> set[str]:
    return {name for name, s in compose_services().items() if s.get("restart") == "no"}


def start_nginx(stack: Stack, edge: str) -> None:
    main = nginx_config(stack, edge)
    checked = nginx_test(main)
    assert checked.returncode == 0, output(checked)
    log = stack.tmp / "nginx.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [*nginx_args(main), "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
        )
    nginx = Process(NGINX, popen, log)
    stack.processes[NGINX] = nginx
    wait_until(lambda: edge_answers(stack.edge), "nginx (its healthcheck: /healthz)", process=nginx)


def forget_redis_prefix(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
    finally:
        redis.close()


def edge_answers(edge: str) -> bool:
    """What the nginx service's healthcheck asks: /healthz through nginx."""
    try:
        return httpx.get(f"{edge}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with surge_stack(tmp_path_factory.mktemp("edge")) as running:
        yield running


@pytest.fixture(scope="module")
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


def edge_client(stack: Stack, local_address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(
        base_url=stack.edge,
        headers={"user-agent": BROWSER_UA},
        transport=httpx.HTTPTransport(local_address=local_address),
        timeout=10,
    )


def create_link(stack: Stack, key: dict[str, str], url: str) -> str:
    with edge_client(stack) as client:
        created = client.post("/api/v1/links", json={"url": url}, headers=key)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["short_url"] == f"{stack.edge}/{body['slug']}", "the public URL is the edge"
    return str(body["slug"])


def redirect_replicas() -> list[str]:
    return [name for name in compose_services() if serve_service(name) == "redirect"]


def redirects_served(stack: Stack, replica: str) -> float:
    """302s of /{slug} this replica answered, from its own /metrics (not through nginx)."""
    body = httpx.get(f"{stack.url(replica)}/metrics", timeout=5).text
    pattern = r"^surge_http_requests_total\{(.*)\} (\S+)$"  # a route holds braces: /{slug}
    total = 0.0
    for labels, value in re.findall(pattern, body, flags=re.MULTILINE):
        if 'route="/{slug}"' in labels and 'status="302"' in labels:
            total += float(value)
    return total


# --- the edge config ---------------------------------------------------------------------------


def test_nginx_accepts_the_rendered_edge_config(stack: Stack) -> None:
    done = nginx_test(stack.tmp / "nginx" / "nginx.conf")
    assert done.returncode == 0, output(done)
    assert "syntax is ok" in done.stderr


def test_nginx_refuses_a_broken_edge_config(tmp_path: Path) -> None:
    """The check bites: an upstream without a server."""
    broken = tmp_path / "nginx.conf"
    broken.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{ upstream u {{}} "
        "server { listen 127.0.0.1:1; location / { proxy_pass http://u; } } }\n"
    )
    done = nginx_test(broken)
    assert done.returncode != 0
    assert "no servers are inside upstream" in done.stderr


# --- routing -----------------------------------------------------------------------------------


def test_api_paths_reach_the_api(stack: Stack) -> None:
    with edge_client(stack) as client:
        unauthenticated = client.get("/api/v1/links")
        spec = client.get("/openapi.json")
        docs = client.get("/docs")
        dashboard = client.get("/app/links")
        root = client.get("/", headers={"accept": "text/html"})
    assert unauthenticated.status_code == 401, unauthenticated.text
    assert dashboard.status_code == 303  # the dashboard asks to sign in first
    assert dashboard.headers["location"].startswith("/app/sign-in")
    assert root.status_code == 302  # a browser on the short domain's root: the dashboard
    assert root.headers["location"] == "/app/"
    assert unauthenticated.headers["content-type"].startswith("application/problem+json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_internal_paths_and_metrics_stop_at_the_edge(stack: Stack) -> None:
    with edge_client(stack) as client:
        paths = ["/internal/links/abc", "/internal/analytics/clicks", "/metrics"]
        for path in [*paths, "/%69nternal/links/abc"]:
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.headers["server"] == "nginx", f"{path} left the edge"
    # The same paths answer behind it: it is the edge that stops them.
    assert httpx.get(f"{stack.url('api')}/internal/links/abc", timeout=5).status_code == 403
    replica = redirect_replicas()[0]
    assert httpx.get(f"{stack.url(replica)}/metrics", timeout=5).status_code == 200


def test_health_goes_to_the_redirect(stack: Stack) -> None:
    with edge_client(stack) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_links_redirect_through_both_replicas(stack: Stack, key: dict[str, str]) -> None:
    target = "https://example.com/edge/both"
    slug = create_link(stack, key, target)
    before = {replica: redirects_served(stack, replica) for replica in redirect_replicas()}
    with edge_client(stack) as client:
        for _ in range(20):
            response = client.get(f"/{slug}")
            assert response.status_code == 302
            assert response.headers["location"] == target
    served = {r: redirects_served(stack, r) - before[r] for r in redirect_replicas()}
    assert sum(served.values()) == 20, served
    assert all(count > 0 for count in served.values()), f"nginx used one replica only: {served}"


def test_slugs_that_start_like_api_paths_are_short_links(stack: Stack, key: dict[str, str]) -> None:
    """Only /api/..., /docs, /docs/..., /openapi.json and /app/... are the api's: /docsify is a
    link."""
    for slug in ("docsify", "apis", "openapi", "apps"):
        with edge_client(stack) as client:
            created = client.post(
                "/api/v1/links",
                json={"url": f"https://example.com/{slug}", "slug": slug},
                headers=key,
            )
            assert created.status_code == 201, created.text
            response = client.get(f"/{slug}")
        assert response.status_code == 302, slug
        assert response.headers["location"] == f"https://example.com/{slug}"


def test_clicks_count_once_per_click_and_per_visitor(stack: Stack, key: dict[str, str]) -> None:
    """Visitors are told apart by the address nginx passes in X-Real-IP (SURGE_CLIENT_IP_HEADER),
    never by one a client sends."""
    slug = create_link(stack, key, "https://example.com/edge/visitors")
    with edge_client(stack, "127.0.0.1") as first, edge_client(stack, "127.0.0.2") as second:
        statuses = [first.get(f"/{slug}").status_code for _ in range(3)]
        statuses += [second.get(f"/{slug}").status_code for _ in range(2)]
        statuses.append(first.get(f"/{slug}", headers={"x-real-ip": "203.0.113.9"}).status_code)
    assert statuses == [302] * 6

    def stats() -> dict[str, Any]:
        with edge_client(stack) as client:
            response = client.get(f"/api/v1/links/{slug}/stats", headers=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["total"] <= 6, f"counted {body['total']} of 6 clicks"
        return body

    wait_until(lambda: stats()["total"] == 6, "6 clicks in the stats")
    assert stats()["unique_visitors"] == 2


def test_a_link_change_reaches_both_replicas(stack: Stack, key: dict[str, str]) -> None:
    slug = create_link(stack, key, "https://example.com/edge/before")
    for replica in redirect_replicas():  # both have it cached
        response = httpx.get(f"{stack.url(replica)}/{slug}", headers={"user-agent": BROWSER_UA})
        assert response.headers["location"] == "https://example.com/edge/before"
    with edge_client(stack) as client:
        changed = client.patch(
            f"/api/v1/links/{slug}", json={"url": "https://example.com/edge/after"}, headers=key
        )
    assert changed.status_code == 200, changed.text

    def everywhere() -> bool:
        return all(
            httpx.get(f"{stack.url(r)}/{slug}", headers={"user-agent": BROWSER_UA}).headers.get(
                "location"
            )
            == "https://example.com/edge/after"
            for r in redirect_replicas()
        )

    wait_until(everywhere, "both replicas to redirect to the new target", timeout_s=10)


def test_the_smoke_test_passes_against_the_edge(stack: Stack, key: dict[str, str]) -> None:
    env = {**os.environ, "SURGE_SMOKE_KEY": key["Authorization"].removeprefix("Bearer ")}
    done = subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "smoke.py"), stack.edge],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, output(done)
    assert done.stdout.strip().endswith("smoke test passed")


def test_the_smoke_test_fails_with_a_bad_key(stack: Stack) -> None:
    env = {**os.environ, "SURGE_SMOKE_KEY": "sk_not-a-key"}
    done = subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "smoke.py"), stack.edge],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, output(done)
    assert "create a link" in done.stderr
    assert "401" in done.stderr


def test_redirects_go_on_while_a_replica_stops(stack: Stack, key: dict[str, str]) -> None:
    """One replica stopped (SIGTERM, as a rolling update does): every redirect through nginx
    still succeeds, and the replica's clicks were flushed before it exited."""
    target = "https://example.com/edge/rolling"
    slug = create_link(stack, key, target)
    stopping = redirect_replicas()[-1]
    with edge_client(stack) as client:
        before = [client.get(f"/{slug}").status_code for _ in range(10)]
        assert stack.processes[stopping].stop() in (0, -signal.SIGTERM)
        after = [client.get(f"/{slug}").status_code for _ in range(10)]
    assert before + after == [302] * 20
    stack.start(stopping)  # back, for the tests after this one

    def total() -> int:
        with edge_client(stack) as client:
            response = client.get(f"/api/v1/links/{slug}/stats", headers=key)
        count: int = response.json()["total"]
        assert count <= 20
        return count

    wait_until(lambda: total() == 20, "all 20 clicks counted")


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
