"""The RSGI adapter: ASGI apps served through granian's native interface (the real granian runs
in tests/e2e; the redirect's native path in tests/redirect/test_app.py)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from surge.apps import build_services, rsgi_app
from surge.platform.rsgi import RsgiApp, address
from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.helpers import PUBLIC_URL, make_settings
from tests.rsgi import Headers, Protocol, RsgiTransport
from tests.rsgi import Scope as RsgiScope


class Echo:
    """Streams back what it was sent, in the chunks it was sent, with the scope's parts."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        headers = [(b"x-path", scope["path"].encode()), (b"x-query", scope["query_string"])]
        headers += [(b"x-client", f"{scope['client'][0]} {scope['client'][1]}".encode())]
        headers += [(b"x-agent", dict(scope["headers"]).get(b"user-agent", b"-"))]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})


class Silent:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fail:
            raise RuntimeError("broken")


def serving(app: object) -> httpx.AsyncClient:
    rsgi = RsgiApp(Lifespan(app, []))  # type: ignore[arg-type]
    transport = RsgiTransport(rsgi, ("2001:db8::7", 4242))
    return httpx.AsyncClient(transport=transport, base_url="http://sho.rt")


class CycleKeepingStreamer:
    """Streams a body in two parts, keeping its `send` in a reference cycle (as a streaming
    response's tasks do) and noting whether the body had ended right after its last part."""

    def __init__(self, proto: Protocol) -> None:
        self.proto = proto
        self.ended_at_last_part: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle: dict[str, object] = {"send": send}
        cycle["itself"] = cycle
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        self.ended_at_last_part = self.proto.ended


async def test_a_streamed_body_ends_at_its_last_part_not_at_a_gc_pass() -> None:
    """Else a live panel (and any streamed export) stays open until the collector runs: a
    worker's graceful stop waited 3-16 s for it."""
    proto = Protocol(b"")
    streamer = CycleKeepingStreamer(proto)
    scope = RsgiScope("GET", "/live", "", Headers([]), "127.0.0.1:1")
    gc.disable()
    try:
        await RsgiApp(Lifespan(streamer, [])).through_asgi(scope, proto)  # type: ignore[arg-type]
    finally:
        gc.enable()
    assert (proto.body, streamer.ended_at_last_part) == (b"ab", True)


async def test_requests_and_streamed_responses_pass_through_as_asgi() -> None:
    async with serving(Echo()) as client:
        answer = await client.post(
            "/a%20b/%C3%A9?q=%C3%A9&x=1", content=b"hello", headers={"user-agent": "curl/8"}
        )
    assert (answer.status_code, answer.content) == (201, b"hello!")
    assert answer.headers["x-path"] == "/a b/é"  # percent-decoded as in ASGI; UTF-8 both ways
    assert answer.headers["x-query"] == "q=%C3%A9&x=1"
    assert answer.headers["x-client"] == "2001:db8::7 4242"
    assert answer.headers["x-agent"] == "curl/8"


@pytest.mark.parametrize("fail", [False, True])
async def test_an_app_that_does_not_answer_gets_a_500(fail: bool) -> None:
    async with serving(Silent(fail)) as client:
        assert (await client.get("/")).status_code == 500


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("::1:8000", ("::1", 8000)), ("[::1]:9", ("::1", 9))],
)
def test_rsgi_endpoints_become_asgi_addresses(endpoint: str, expected: tuple[str, int]) -> None:
    assert address(endpoint) == expected


class Recorder:
    name = "recorder"
    app = Silent(False)

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")
        if self.fail:
            raise RuntimeError("no database")

    async def stop(self) -> None:
        self.calls.append("stop")


def test_granians_init_and_del_hooks_start_and_stop_the_services() -> None:
    service = Recorder()
    app = RsgiApp(Lifespan(service.app, [service]))  # type: ignore[list-item]
    loop = asyncio.new_event_loop()
    try:
        app.__rsgi_init__(loop)
        assert service.calls == ["start"]
        app.__rsgi_del__(loop)
    finally:
        loop.close()
    assert service.calls == ["start", "stop"]


def test_a_failed_start_ends_the_worker_with_status_1() -> None:
    service = Recorder(fail=True)
    app = RsgiApp(Lifespan(service.app, [service]))  # type: ignore[list-item]
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(SystemExit) as ended:
            app.__rsgi_init__(loop)
    finally:
        loop.close()
    assert ended.value.code == 1


async def test_the_all_in_one_over_rsgi_keeps_the_apis_paths_for_the_api(tmp_path: Path) -> None:
    """The native redirect takes only what the all-in-one routes to the redirect: the api's
    paths (its health check, its REST API) still reach the api."""
    app, services = build_services("all", make_settings(tmp_path), side_loop=False)
    async with Lifespan(app, services) as lifespan:
        api = next(s for s in services if isinstance(s, ApiService))
        assert api.keys is not None
        headers = {"Authorization": f"Bearer {(await api.keys.create('rsgi')).secret}"}
        transport = RsgiTransport(rsgi_app(lifespan))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            made = await client.post(
                "/api/v1/links", json={"url": "https://example.com/", "slug": "s"}, headers=headers
            )
            assert made.status_code == 201, made.text
            for _ in range(3):
                assert (await client.get("/s")).status_code == 302
            assert (await client.get("/api/v1/links/s", headers=headers)).status_code == 200
            assert (await client.get("/healthz")).json()["status"] == "ok"
    answered = [proto.calls[0] for proto in transport.answered]
    assert answered == ["bytes", "bytes", "empty", "empty", "bytes", "bytes"]
