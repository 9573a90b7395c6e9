"""The compose topology without Docker, for the edge tests: the same processes, with the same
commands, settings, secrets and health checks, on loopback, behind a real nginx running the
repository's edge config (see test_edge.py). Fixtures in conftest.py.
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
from redis import Redis

from tests.deploy.programs import (
    NGINX_TEMPLATE,
    ROOT,
    compose_services,
    output,
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
        # Without `--profile`, compose starts no service of a profile, nor waits for one.
        started = {name for name, s in services.items() if "profiles" not in s} - NOT_RUN
        graph = {name: set(services[name].get("depends_on", {})) & started for name in started}
        order = TopologicalSorter(graph)
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
        assert set(stack.processes) == started - EXTERNAL - one_shots()
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
