"""The system under chaos: api, two redirect replicas and analytics as real `surge serve`
processes on PostgreSQL + Redis, with what the scenarios ask of it (links, counts, restarts)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.chaos.load import Traffic
from tests.e2e.processes import Server, create_key, free_port, serve, surge_cli, surge_env
from tests.helpers import BROWSER_UA

# Low, so a slug the replicas cannot look up answers 503 quickly (scenario: api killed).
INTERNAL_TIMEOUT_S = 1.0
# A killed consumer's entries are claimed by another after this long (default: 30 s).
CLAIM_IDLE_MS = 3000


class Topology:
    """api, analytics and two redirect replicas on free ports, kept for a module's scenarios
    (a context manager). The replicas share one spool directory, as on one host's disk."""

    def __init__(
        self, directory: Path, *, database_url: str, redis_url: str, redis_prefix: str, **env: str
    ) -> None:
        """`env`: more settings for every process (SURGE_CLICKHOUSE_URL: clicks in ClickHouse)."""
        self.directory = directory
        self.api_port, self.analytics_port = free_port(), free_port()
        self.redirect_ports = [free_port(), free_port()]
        self.env = surge_env(
            directory,
            SURGE_DATABASE_URL=database_url,
            SURGE_REDIS_URL=redis_url,
            SURGE_REDIS_PREFIX=redis_prefix,
            SURGE_REDIS_TIMEOUT_S="0.5",  # a hung Redis costs each call half a second
            SURGE_INTERNAL_TIMEOUT_S=str(INTERNAL_TIMEOUT_S),
            SURGE_STREAM_CLAIM_IDLE_MS=str(CLAIM_IDLE_MS),
            SURGE_API_URL=f"http://127.0.0.1:{self.api_port}",
            SURGE_ANALYTICS_URL=f"http://127.0.0.1:{self.analytics_port}",
            SURGE_PUBLIC_URL=f"http://127.0.0.1:{self.redirect_ports[0]}",
            **env,
        )
        self.spool_dir = Path(self.env["SURGE_SPOOL_DIR"])
        self.key: dict[str, str] = {}
        self._stack = ExitStack()
        self._generations = itertools.count(1)

    def __enter__(self) -> Topology:
        migrated = surge_cli(self.env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        # All at once: each process spends seconds importing, and they need not wait for
        # each other (a dependency that is not up yet is one they must survive anyway).
        services = [
            ("analytics", self.analytics_port),
            ("api", self.api_port),
            *(("redirect", port) for port in self.redirect_ports),
        ]
        try:
            with ThreadPoolExecutor(len(services) + 1) as pool:
                key = pool.submit(create_key, self.env)
                started = list(pool.map(lambda spec: self.start(*spec), services))
                self.key = key.result()
        except BaseException:
            self._stack.close()
            raise
        self.analytics, self.api, *self.redirects = started
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    # --- processes -----------------------------------------------------------------------------

    def start(self, service: str, port: int, **env: str) -> Server:
        """A `surge serve` process, ready; killed when the topology closes. Each start logs to a
        directory of its own, so a restart keeps the log of the process it replaces."""
        logs = self.directory / f"logs-{next(self._generations):02d}-{service}"
        logs.mkdir()
        return self._stack.enter_context(serve(logs, service, port, {**self.env, **env}))

    def restart_api(self) -> None:
        self.api = self.start("api", self.api_port)

    def restart_analytics(self) -> None:
        self.analytics = self.start("analytics", self.analytics_port)

    def replace_redirect(self, index: int, **env: str) -> None:
        """A rolling deploy of one replica: SIGTERM (if still running), a new process, ready."""
        old = self.redirects[index]
        if old.process.poll() is None:
            assert old.stop(), f"redirect {index} did not stop cleanly:\n{old.output()}"
        self.redirects[index] = self.start("redirect", self.redirect_ports[index], **env)

    def ensure_healthy(self) -> None:
        """Every process alive (started again where a failed scenario left one dead, so the
        next one is not failed by it) and ready: a scenario starts from a healthy system."""
        if self.api.process.poll() is not None:
            self.restart_api()
        if self.analytics.process.poll() is not None:
            self.restart_analytics()
        for index, replica in enumerate(self.redirects):
            if replica.process.poll() is not None:
                self.replace_redirect(index)
        for server in [self.api, self.analytics, *self.redirects]:
            server.wait_ready(timeout_s=30)

    @staticmethod
    def ready(server: Server) -> bool:
        try:
            return httpx.get(f"{server.url}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    # --- links and clicks ----------------------------------------------------------------------

    def new_link(self) -> str:
        """A link, cached by every replica: one GET each (those clicks count too)."""
        created = httpx.post(
            f"{self.api.url}/api/v1/links",
            json={"url": "https://example.com/chaos"},
            headers=self.key,
            timeout=5,
        )
        assert created.status_code == 201, created.text
        slug: str = created.json()["slug"]
        for replica in self.redirects:
            warm = httpx.get(f"{replica.url}/{slug}", headers={"user-agent": BROWSER_UA})
            assert warm.status_code == 302, warm.text
        return slug

    @property
    def warmup_clicks(self) -> int:
        return len(self.redirects)

    def traffic(self, slug: str, rate: float, *, replicas: range | None = None) -> list[Traffic]:
        """Redirects of `slug` at `rate` per second on each replica (kinds r0, r1)."""
        return [
            Traffic(f"r{i}", f"{self.redirects[i].url}/{slug}", rate=rate)
            for i in replicas or range(len(self.redirects))
        ]

    def counted(self, slug: str) -> int | None:
        """The link's clicks as its stats count them (bots too), or None while they cannot
        be read."""
        try:
            response = httpx.get(
                f"{self.api.url}/api/v1/links/{slug}/stats", headers=self.key, timeout=5
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        stats = response.json()
        return int(stats["total"]) + int(stats["bot_clicks"])

    def wait_for_clicks(self, slug: str, expected: int, timeout_s: float = 30.0) -> int | None:
        """Poll the count until it is `expected`; what it is then, or at the deadline, or as soon
        as it passes `expected` (the caller asserts)."""
        deadline = time.monotonic() + timeout_s
        while True:
            count = self.counted(slug)
            if (count is not None and count >= expected) or time.monotonic() > deadline:
                return count
            time.sleep(0.1)

    def spooled_bytes(self) -> int:
        """Click batches waiting in the replicas' spools (they share one directory)."""
        return sum(p.stat().st_size for p in self.spool_dir.glob("clicks-*.spool"))


def unknown_slug() -> str:
    """A slug no link has and no cache has seen."""
    return f"nx-{uuid.uuid4().hex}"


def unknown_slugs(base_url: str) -> Callable[[], str]:
    """URLs of a fresh unknown slug each, on one replica: every one a miss of every cache."""
    return lambda: f"{base_url}/{unknown_slug()}"
