"""The two systems under test: the bare ASGI app (bench/apps/bare_asgi.py) and Surge as three real
processes on a throwaway SQLite database, and the checks that both answer with a 302."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from .budget import BenchError, Budget
from .processes import HOST, Server, free_ports, pinned, run_cli, start_server, wait_ready

# The bare apps under test, served from here by module name (uvicorn --app-dir, granian
# --working-dir): bare_asgi:app, bare_rsgi:app.
APPS_DIR = Path(__file__).resolve().parent.parent / "apps"
SLUG = "bench"
LANDING = "https://example.com/landing"
# Analytics is paused during measured runs (see `processes.paused`); its clients must
# wait, not give up.
INTERNAL_TIMEOUT_S = 60
INTERNAL_TOKEN = "surge-bench-internal-token"


@dataclass
class Surge:
    api: Server
    analytics: Server
    redirect: Server
    key: str


def surge_env(tmp: Path, api: int, analytics: int, redirect: int) -> dict[str, str]:
    # Inherited SURGE_* settings (a developer's Redis, say) would make runs incomparable.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        SURGE_API_URL=f"http://{HOST}:{api}",
        SURGE_ANALYTICS_URL=f"http://{HOST}:{analytics}",
        SURGE_REDIRECT_URLS=f"http://{HOST}:{redirect}",
        SURGE_PUBLIC_URL=f"http://{HOST}:{redirect}",
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_INTERNAL_TOKEN=INTERNAL_TOKEN,
        SURGE_LOG_LEVEL="warning",
        # A paused analytics must look slow to the redirect's click flusher, not down: else the
        # flusher times out, spools to disk and retries, which is not the steady state measured.
        SURGE_INTERNAL_TIMEOUT_S=str(INTERNAL_TIMEOUT_S),
    )
    return env


def bare_argv(port: int) -> list[str]:
    # The same uvicorn options as `surge serve` (surge.cli._serve); loop and http stay on
    # "auto", i.e. uvloop and httptools from uvicorn[standard], for both.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_asgi:app",
        "--app-dir",
        str(APPS_DIR),
        "--host",
        HOST,
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-proxy-headers",
        "--timeout-graceful-shutdown",
        "20",
    ]


def surge_argv(service: str, port: int) -> list[str]:
    return [sys.executable, "-m", "surge.cli", "serve", "--service", service, "--port", str(port)]


CLI = [sys.executable, "-m", "surge.cli"]


def start_all(
    tmp: Path,
    servers: list[Server],
    budget: Budget,
    *,
    extra_env: dict[str, str] | None = None,
    pin: str | None = None,
) -> tuple[Server, Surge]:
    """Start bare + Surge; `servers` collects each process as it starts, for cleanup.
    `extra_env`: more settings for Surge's services; `pin`: the CPUs (taskset's list) the
    redirect and the bare app run on."""
    bare_port, api_port, analytics_port, redirect_port = free_ports(4)
    env = {**surge_env(tmp, api_port, analytics_port, redirect_port), **(extra_env or {})}
    start_services(env, (analytics_port, api_port, redirect_port), servers, tmp, budget, pin)
    # The bare app answers everything, /healthz included, with its 302.
    bare = pinned(bare_argv(bare_port), pin)
    servers.append(start_server("bare", bare_port, bare, env, tmp, 302))
    key = create_key(env, "bench", tmp, budget)
    wait_ready(servers, budget)
    analytics, api, redirect, bare = servers
    return bare, Surge(api, analytics, redirect, key)


def start_services(
    env: dict[str, str],
    ports: tuple[int, int, int],
    servers: list[Server],
    tmp: Path,
    budget: Budget,
    pin_redirect: str | None = None,
) -> None:
    """Migrate once up front (the services then start on a current schema instead of
    migrating), then analytics, api and redirect on `ports`, in the order `stop_servers`
    reverses; `servers` collects each as it starts. The redirect on `pin_redirect`'s CPUs."""
    run_cli([*CLI, "migrate"], env, tmp, budget)
    for name, port in zip(("analytics", "api", "redirect"), ports, strict=True):
        argv = pinned(surge_argv(name, port), pin_redirect if name == "redirect" else None)
        servers.append(start_server(name, port, argv, env, tmp))


def create_key(env: dict[str, str], name: str, tmp: Path, budget: Budget) -> str:
    """An API key, made while the servers start up: it goes straight into the database."""
    output = run_cli([*CLI, "keys", "create", "--name", name], env, tmp, budget).split()
    if not output:
        raise BenchError("`surge keys create` printed no key")
    return output[-1]


def create_link(surge: Surge) -> None:
    response = httpx.post(
        f"{surge.api.url}/api/v1/links",
        json={"url": LANDING, "slug": SLUG},
        headers={"authorization": f"Bearer {surge.key}"},
        timeout=10.0,
    )
    if response.status_code != 201:
        raise BenchError(f"creating the link failed: {response.status_code} {response.text[:200]}")


def check_redirect(name: str, url: str, location: str | None) -> None:
    """One GET, not followed: a 302, with the expected Location when one is given."""
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise BenchError(f"{name}: GET {url} failed: {exc!r}") from exc
    got = response.headers.get("location")
    if response.status_code != 302 or not got or (location is not None and got != location):
        raise BenchError(
            f"{name}: GET {url} answered {response.status_code} location={got!r}, "
            f"expected 302 location={location or 'any'!r}"
        )
