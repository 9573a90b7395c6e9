"""Shared fixtures: an all-in-one Surge driven through ASGI, on either backend, and databases.

`surge` (and `backend`, `settings`, `key`) are per test. Modules whose tests change nothing can
share one app per backend instead: `module_surge` (with `module_backend`, `module_settings`),
for async fixtures and tests on the module's event loop (see tests/api/links/test_validation.py).

Plain helpers (constants, builders, `wait_for`, `assert_problem`) live in tests/helpers.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
import time_machine
from argon2 import PasswordHasher
from argon2 import profiles as argon2_profiles

from surge.analytics.app import AnalyticsService
from surge.analytics.consumer import ClickStreamConsumer
from surge.analytics.service import ClickService
from surge.apps import build_services
from surge.links.service import LinkService
from surge.platform import fastapi_app, passwords
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, create_engine, create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from surge.services.api import ApiService
from tests.clickhouse import (  # noqa: F401 (fixtures, one registration for every directory)
    chdb,
    clickhouse,
    clickhouse_clicks,
    clickhouse_server_url,
    sqlite_sessions,
)
from tests.clock import CALENDAR, pinned_now
from tests.deploy import image_warmup
from tests.helpers import PUBLIC_URL, engine_on, make_settings, wait_for
from tests.leftovers import processes_left, run_id
from tests.services import (
    REDIS_URL,
    create_database,
    databases_left,
    drop_database,
    require_redis,
    throwaway_database,
    throwaway_redis_prefix,
    truncate_all,
)
from tests.shared_tls import share_tls_contexts

T = TypeVar("T")
BACKENDS = ["embedded", "production"]

# In-process password hashes at argon2's cheapest parameters: still argon2id, made and checked by
# the same code, but ~1 ms instead of ~50 ms and 64 MiB each (more on a busy machine), and the
# suite makes and checks hundreds (every signed-in client). What a served hash costs is checked
# once (tests/accounts/test_users.py); the `surge` processes the tests start keep it.
SERVED_PASSWORD_HASHER = passwords._hasher
passwords._hasher = PasswordHasher.from_parameters(argon2_profiles.CHEAPEST)
# Routes built by the requests that use them, not all of them at each in-process start (the served
# processes the e2e tests start warm them; tests/platform/test_fastapi_app.py tests the warm-up).
fastapi_app.WARM_ROUTES_ON_START = False
# One TLS context for all the clients the tests make, not a CA bundle loaded per client
# (tests/shared_tls.py: 75 s of CPU in two e2e and chaos modules alone).
share_tls_contexts()


async def stream_drained(consumer: ClickStreamConsumer) -> bool:
    """Every entry of the click stream delivered to the group and acknowledged."""
    redis, stream, group = consumer.redis, consumer.stream, consumer.group
    if not await redis.exists(stream):
        return True
    info: Any = await redis.xinfo_stream(stream)
    groups: Any = await redis.xinfo_groups(stream)
    ours = next((g for g in groups if g["name"] in (group, group.encode())), None)
    if ours is None:
        return False
    return bool(ours["pending"] == 0 and ours["last-delivered-id"] == info["last-generated-id"])


@dataclass
class Surge:
    """An all-in-one Surge in this event loop, and a client onto it."""

    settings: Settings
    client: httpx.AsyncClient
    api: ApiService
    redirect: RedirectService
    analytics: AnalyticsService

    @property
    def links(self) -> LinkService:
        assert self.api.links is not None
        return self.api.links

    async def new_key(self, name: str = "tester") -> dict[str, str]:
        assert self.api.keys is not None
        key = await self.api.keys.create(name)
        return {"Authorization": f"Bearer {key.secret}"}

    async def flush_clicks(self) -> None:
        """Send buffered clicks and wait until analytics has stored them."""
        clicks = self.redirect.clicks
        assert clicks is not None
        await clicks.flush()

        async def handed_over() -> bool:  # a flush of the background flusher may be under way
            return clicks.idle

        await wait_for(handed_over, what="the click buffer to hand every click over")
        for consumer in self.analytics.consumers:
            await wait_for(
                lambda c=consumer: stream_drained(c),
                what=f"click stream {consumer.stream} to drain",
            )

    async def stats(self, slug: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
        await self.flush_clicks()
        response = await self.client.get(
            f"/api/v1/links/{slug}/stats", headers=headers, params=params
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@asynccontextmanager
async def running_surge(settings: Settings) -> AsyncIterator[Surge]:
    """All three services in this event loop, started and stopped around the block (analytics
    too: tests reach into it; tests/platform/test_side_loop.py runs it on its own loop)."""
    app, services = build_services("all", settings, side_loop=False)
    async with Lifespan(app, services) as lifespan:
        api = next(s for s in services if isinstance(s, ApiService))
        redirect = next(s for s in services if isinstance(s, RedirectService))
        analytics = next(s for s in services if isinstance(s, AnalyticsService))
        transport = httpx.ASGITransport(app=lifespan, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield Surge(settings, client, api, redirect, analytics)


@asynccontextmanager
async def backend_settings(
    name: str, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, Any]]:
    """Settings that pick a backend: SQLite + in-process, or PostgreSQL + Redis (the session's
    database, emptied now, and a key prefix of its own)."""
    if name == "embedded":
        yield {}
        return
    require_redis()
    database_url: str = request.getfixturevalue("postgres_database")
    await truncate_all(database_url)
    async with throwaway_redis_prefix() as prefix:
        yield {
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "migrate_on_start": False,  # the session's database is migrated once
        }


def _in_thread(work: Callable[[], Awaitable[T]]) -> T:
    """Run async set-up in its own loop: session fixtures may be reached from a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


# --- nothing left behind (tests/leftovers.py) --------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    run_id()  # before any worker or test process starts, so that they all carry it


_image_warm_up: list[subprocess.Popen[bytes] | None] = []


@pytest.hookimpl(tryfirst=True)  # before xdist starts its workers: they inherit the image's tag
def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        _image_warm_up.append(image_warmup.start(session.config.args))


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    """After everything else (xdist's workers included) has finished: fail the run if a process
    the tests started is alive, or a test database was not dropped."""
    result = yield
    if hasattr(session.config, "workerinput"):
        return result  # an xdist worker: the controller checks once for the whole run
    for warm_up in _image_warm_up:
        image_warmup.stop(warm_up)
    processes = processes_left(spared={os.getpid()})
    databases = _in_thread(databases_left)
    if processes or databases:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"process left running (killed now): {p}" for p in processes]
        lines += [f"test database left behind (dropped now): {d}" for d in databases]
        if reporter is not None:
            reporter.write_sep("=", "left behind by the tests", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


# --- the clock (tests/clock.py) ----------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A `calendar` test that takes `now` runs at every instant of the calendar."""
    if "now" in metafunc.fixturenames and metafunc.definition.get_closest_marker("calendar"):
        metafunc.parametrize("now", list(CALENDAR.values()), ids=list(CALENDAR), indirect=True)


@pytest.fixture
def now(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """The wall clock pinned (and ticking) at this test's instant, in UTC."""
    instant: datetime = getattr(request, "param", None) or pinned_now()
    with time_machine.travel(instant, tick=True):
        yield instant.astimezone(UTC)


REAL_CLOCK_MARKERS = ("e2e", "chaos", "real_clock")
_real_clock_modules: set[str] = set()


def _keeps_real_clock(node: pytest.Item) -> bool:
    return any(node.get_closest_marker(m) for m in REAL_CLOCK_MARKERS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Note the modules with a test that drives real processes: their module-scoped fixtures
    keep the real clock too. Those modules are also the slow ones: they go first, so that with
    xdist the short in-process modules fill the gaps instead of one worker finishing a chaos
    module alone at the end."""
    for item in items:
        if _keeps_real_clock(item):
            _real_clock_modules.add(_module_name(item))
    items.sort(key=_schedule_rank)


# The longest modules (`make test`'s --durations): first of all, so no worker is left with one
# of them at the end while the other has finished.
LONGEST_MODULES = (
    "tests.e2e.test_fuzz_api",
    # With test_pods: one work unit (the image), not driving processes itself, so after those
    # that do, minutes into the run, when the images are made (tests/deploy/image_warmup.py).
    "tests.deploy.test_container",
    "tests.chaos.test_surge_processes",
    "tests.e2e.test_serve",
    "tests.chaos.test_backing_servers",
    "tests.deploy.test_edge_autoscaling",  # with test_edge: one work unit (the edge stack)
    "tests.capacity.test_loadtest",
    "tests.dashboard.test_browser",
    "tests.dashboard.test_browser_live",
    "tests.chaos.test_clickhouse",
    "tests.e2e.test_production",
    "tests.deploy.test_image",
    "tests.capacity.test_commands",
    "tests.domains.test_commands",
    "tests.transfer.test_commands",
)


# Modules that use one package-scoped fixture (tests/deploy/conftest.py: the edge stack of nginx,
# the services, PostgreSQL and Redis; the image built with podman): xdist's loadscope would make
# it once on each worker that runs one of them; one work unit keeps them on one worker.
SHARED_WORK_UNITS = {
    "tests/deploy/test_edge.py": "tests/deploy (the edge stack)",
    "tests/deploy/test_edge_autoscaling.py": "tests/deploy (the edge stack)",
    "tests/deploy/test_container.py": "tests/deploy (the image)",
    "tests/deploy/test_pods.py": "tests/deploy (the image)",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedStackScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            unit = SHARED_WORK_UNITS.get(nodeid.split("::", 1)[0])
            return unit if unit is not None else str(super()._split_scope(nodeid))

    return SharedStackScheduling(config, log)


def _schedule_rank(item: pytest.Item) -> tuple[bool, int]:
    module = _module_name(item)
    longest = LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)
    return module not in _real_clock_modules, longest


def _module_name(item: pytest.Item) -> str:
    return item.module.__name__ if item.module else item.nodeid


@pytest.fixture(scope="module", autouse=True)
def _pinned_module_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module's shared fixtures (one app, links made once) are made at the pinned instant."""
    if request.module.__name__ in _real_clock_modules:
        yield
        return
    with time_machine.travel(pinned_now(), tick=True):
        yield


@pytest.fixture(autouse=True)
def _pinned_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every in-process test runs at a pinned instant, moved there before any other of its
    fixtures starts an app (autouse fixtures are set up first). Tests that drive real
    processes keep the real clock: those processes cannot be moved with them."""
    if _keeps_real_clock(request.node):
        yield
    elif "now" in request.fixturenames:
        request.getfixturevalue("now")
        yield
    elif request.module.__name__ not in _real_clock_modules:
        yield  # the module's clock, pinned: it runs on from where its fixtures left it
    else:
        with time_machine.travel(pinned_now(), tick=True):
            yield


# --- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty it before use."""

    async def create() -> str:
        url = await create_database()
        engine = create_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()
        return url

    url = _in_thread(create)
    try:
        yield url
    finally:
        _in_thread(lambda: drop_database(url))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own, empty (not migrated); dropped afterwards."""
    async with throwaway_database() as url:
        yield url


@pytest.fixture
async def migrated_pg_url(pg_url: str) -> str:
    """`pg_url`, migrated to head."""
    async with engine_on(pg_url) as engine:
        await upgrade_to_head(engine)
    return pg_url


# --- one app per test --------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    async with backend_settings(request.param, request) as values:
        yield values


@pytest.fixture(scope="session")
def embedded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded database migrated once for the run (per xdist worker): a test's starts as a
    copy of it, ~1 ms, where migrating a new one took 120-250 ms (35 of them were 9 s of
    tests/api/links/test_routes.py). Tests of the migrations themselves start from nothing."""
    path = tmp_path_factory.mktemp("embedded-template") / "surge.db"

    async def migrate() -> None:
        async with engine_on(f"sqlite+aiosqlite:///{path}") as engine:
            await upgrade_to_head(engine)

    _in_thread(migrate)
    return path


def embedded_settings(directory: Path, template: Path, backend: dict[str, Any]) -> Settings:
    """`make_settings` on `backend`; on the embedded one, with a copy of the migrated template."""
    if "database_url" not in backend:
        shutil.copyfile(template, directory / "surge.db")
    return make_settings(directory, **backend)


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, Any], embedded_template: Path) -> Settings:
    return embedded_settings(tmp_path, embedded_template, backend)


@pytest.fixture
async def surge(settings: Settings) -> AsyncIterator[Surge]:
    async with running_surge(settings) as running:
        yield running


@pytest.fixture
async def key(surge: Surge) -> dict[str, str]:
    return await surge.new_key()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionMaker]:
    """The database of the backend under test (SQLite, or PostgreSQL), migrated and empty."""
    async with engine_on(settings.database_url) as engine:
        await upgrade_to_head(engine)
        yield create_sessionmaker(engine)


@pytest.fixture
def clicks(sessions: SessionMaker) -> ClickService:
    return ClickService(sessions)


# --- one app per module and backend ------------------------------------------------------------
# Async fixtures on the module's event loop: the tests that use them need
# `pytestmark = pytest.mark.asyncio(loop_scope="module")`.


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def module_backend(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    async with backend_settings(request.param, request) as values:
        yield values


@pytest.fixture(scope="module")
def module_settings(
    tmp_path_factory: pytest.TempPathFactory,
    module_backend: dict[str, Any],
    embedded_template: Path,
) -> Settings:
    return embedded_settings(tmp_path_factory.mktemp("surge"), embedded_template, module_backend)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_surge(module_settings: Settings) -> AsyncIterator[Surge]:
    async with running_surge(module_settings) as running:
        yield running
