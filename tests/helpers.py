"""Plain helpers shared by test modules: waiting, settings, problem checks, engines, builders.

Fixtures live in tests/conftest.py; fakes of other services in tests/fakes.py. No test module
imports from another test module: what two of them need is here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from surge.data.events import ClickEvent, ClickRow, click_row, pack_batch
from surge.platform.config import Settings
from surge.platform.db import create_engine

PUBLIC_URL = "http://sho.rt"
INTERNAL_TOKEN = "test-internal-token"
PROBLEM_JSON = "application/problem+json"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


# --- waiting -----------------------------------------------------------------------------------


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Poll `check` until it is true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


# --- settings and databases --------------------------------------------------------------------


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}",
        "public_url": PUBLIC_URL,
        "internal_token": INTERNAL_TOKEN,
        "click_flush_interval_ms": 10,
        "bootstrap_admin_key": False,
        "country_header": "cf-ipcountry",
        "client_ip_header": "x-test-client-ip",
        "spool_dir": tmp_path / "spool",
        # A busy CI machine stalls the event loop now and then; in-process tests must not see
        # their API calls shed for it (tests/platform/test_admission.py tests lag shedding).
        "shed_lag_ms": 60_000,
        # Suites send dozens of bad keys a minute from one address on purpose
        # (tests/api/test_rate_limits.py tests this limit).
        "rate_limit_auth_failures": "",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def engine_on(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `url`, disposed of afterwards."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


# --- problems ----------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    """`response` is the problem+json of problem `name` with `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:surge:problem:{name}"
    assert problem["status"] == status
    assert problem["title"]
    return problem


# --- the links API -----------------------------------------------------------------------------

LINKS = "/api/v1/links"
GOOD_URL = "https://example.com/landing"


def future(**delta: float) -> str:
    """An ISO time `delta` (default: 30 days) from now."""
    return (datetime.now(UTC) + timedelta(**(delta or {"days": 30}))).isoformat()


# --- the dashboard -----------------------------------------------------------------------------

DASHBOARD_PASSWORD = "a long enough password"


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


async def dashboard_sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign `email` (password DASHBOARD_PASSWORD) in on `client`; the session's CSRF token."""
    page = await client.get("/app/sign-in")
    answer = await client.post(
        "/app/sign-in",
        data={"email": email, "password": DASHBOARD_PASSWORD, "csrf": csrf_of(page)},
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(await client.get("/app/links"))


# --- click events ------------------------------------------------------------------------------


def event(
    link_id: int = 1,
    *,
    ua: str | None = BROWSER_UA,
    visitor: str | None = "v1",
    at: datetime | None = None,
    referrer: str | None = None,
    country: str | None = None,
    ip: str | None = None,
) -> ClickEvent:
    """One click event, as analytics ingests it; `at` defaults to now."""
    return ClickEvent(
        id=uuid.uuid4().hex,
        link_id=link_id,
        slug=f"s{link_id}",
        ts=(at or datetime.now(UTC)).timestamp(),
        referrer=referrer,
        user_agent=ua,
        country=country,
        visitor=visitor,
        ip=ip,
    )


def row(link_id: int = 1, *, event_id: str | None = None, ts: float = 1.79e9) -> ClickRow:
    """One click as the redirect buffers it (and as the wire format carries it)."""
    return click_row(
        id=event_id or uuid.uuid4().hex,
        link_id=link_id,
        slug="s",
        ts=ts,
        referrer=None,
        user_agent=BROWSER_UA,
        country=None,
        visitor="v",
    )


def packed(n: int, *, link_id: int = 1, ts: float = 1.79e9) -> bytes:
    """A packed batch of `n` distinct clicks of one link, one second apart."""
    return pack_batch([row(link_id, ts=ts + i) for i in range(n)])


# --- query plans (PostgreSQL) ------------------------------------------------------------------


@contextmanager
def sql_sent(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the engine sends while the block runs."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    sqlalchemy.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sqlalchemy.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def analyze(engine: AsyncEngine) -> None:
    """Planner statistics, committed (a rolled-back ANALYZE leaves none)."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def plan_nodes(
    conn: AsyncConnection, statement: str, parameters: Any
) -> list[dict[str, Any]]:
    """Every node of PostgreSQL's plan for a statement as it was sent."""
    result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    raw = result.scalar_one()
    pending = [(json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]]
    nodes = []
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes
