"""The live feed across the all-in-one's process boundary: the child streams its hub's messages
(`LiveStream`), the parent relays them into the api's hub (`AnalyticsProcess`)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from surge.analytics.process import LIVE_PATH, AnalyticsProcess, LiveStream
from surge.data.live import LiveClick, LiveSummary, Message, new_live_hub
from surge.platform.config import Settings
from surge.platform.http import INTERNAL_TOKEN_HEADER
from tests.helpers import INTERNAL_TOKEN, make_settings

TOKEN = "live-relay-token"
CLICK = LiveClick(datetime(2026, 3, 1, tzinfo=UTC), "NL", None, "desktop", False)
MESSAGE: Message = (LiveSummary(7, 2, 1, (CLICK,)),)


async def not_found(scope: object, receive: object, send: object) -> None:
    raise AssertionError("only the live path is asked for here")


@pytest.fixture
async def child_side() -> AsyncIterator[tuple[str, LiveStream]]:
    """A LiveStream served by uvicorn on a Unix socket, as the child serves it."""
    with tempfile.TemporaryDirectory(prefix="surge-live-") as directory:
        socket = f"{directory}/analytics.sock"
        stream = LiveStream(not_found, new_live_hub(), TOKEN)
        server = uvicorn.Server(
            uvicorn.Config(stream, uds=socket, lifespan="off", log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        try:
            yield socket, stream
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)


async def wait_until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_parent_relays_what_the_child_publishes(
    child_side: tuple[str, LiveStream],
) -> None:
    socket, stream = child_side
    api_hub = new_live_hub()
    parent = AnalyticsProcess(Settings(internal_token=TOKEN), api_hub)
    parent.child.socket = type(parent.child.socket)(socket)
    watching = api_hub.subscribe()
    parent.relay.start()
    try:
        await wait_until(lambda: len(stream.hub) == 1)  # the relay subscribed in the child
        stream.hub.publish(MESSAGE)
        assert await watching.next(timeout_s=5) == [MESSAGE]
    finally:
        await parent.stop()
    await wait_until(lambda: len(stream.hub) == 0)  # its stream ended, its subscription too


async def test_the_live_stream_wants_the_internal_token(
    child_side: tuple[str, LiveStream],
) -> None:
    socket, stream = child_side
    transport = httpx.AsyncHTTPTransport(uds=socket)
    async with httpx.AsyncClient(transport=transport, base_url="http://child") as client:
        refused = await client.get(LIVE_PATH, headers={INTERNAL_TOKEN_HEADER: "wrong-token"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert len(stream.hub) == 0


async def test_the_child_runs_on_the_parents_settings_not_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings made in code (a test's, an embedding's) reach the child: its database and its
    internal token are the parent's, whatever SURGE_* variables say."""
    for name in [name for name in os.environ if name.startswith("SURGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SURGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    settings = make_settings(tmp_path, internal_token=TOKEN)
    parent = AnalyticsProcess(settings, new_live_hub())
    await parent.start()
    try:
        async with httpx.AsyncClient(transport=parent.transport(), base_url="http://c") as client:
            wrong = await client.get(LIVE_PATH, headers={INTERNAL_TOKEN_HEADER: INTERNAL_TOKEN})
            assert wrong.status_code == 403
            async with client.stream(
                "GET", LIVE_PATH, headers={INTERNAL_TOKEN_HEADER: TOKEN}
            ) as answer:
                assert answer.status_code == 200
    finally:
        await parent.stop()
    assert (tmp_path / "surge.db").exists()  # migrated by the child
    assert not (tmp_path / "other.db").exists()
