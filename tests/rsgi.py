"""granian's RSGI objects as plain Python, and an httpx transport that drives an app through
them: the tests that run Surge's apps over ASGI run the same requests over RSGI this way (the
real granian is in tests/e2e).

Like granian 2.x: header names lowercase, values str, a value that is not visible ASCII left
out; the path percent-decoded, the query string decoded as UTF-8; the client "host:port"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from surge.platform.rsgi import RsgiApp


class Headers:
    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._items = [
            (k.decode("latin-1").lower(), v.decode("ascii"))
            for k, v in raw
            if v.isascii() and v.decode().isprintable()
        ]

    def get(self, key: str, default: Any = None) -> Any:
        for name, value in self._items:
            if name == key:
                return value
        return default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass
class Scope:
    method: str
    path: str
    query_string: str
    headers: Headers
    client: str
    scheme: str = "http"
    server: str = "127.0.0.1:8000"
    proto: str = "http"
    http_version: str = "1.1"


class Stream:
    """As granian's: the body ends when the stream object is freed (no call ends it)."""

    def __init__(self, proto: Protocol) -> None:
        self.proto = proto

    async def send_bytes(self, data: bytes) -> None:
        assert not self.proto.ended
        self.proto.body += data

    def __del__(self) -> None:
        self.proto.ended = True


@dataclass
class Protocol:
    request_body: bytes
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    calls: list[str] = field(default_factory=list)  # which response_* answered
    ended: bool = False  # a streamed body's end reached the client

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The body in two chunks, as a socket may deliver it: the adapter must join them."""
        half = len(self.request_body) // 2
        for chunk in (self.request_body[:half], self.request_body[half:]):
            if chunk:
                yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def client_disconnect(self) -> None:
        await asyncio.Event().wait()  # the client stays

    def _start(self, call: str, status: int, headers: list[tuple[str, str]]) -> None:
        assert not self.calls, f"answered twice: {self.calls} then {call}"
        self.calls.append(call)
        self.status, self.headers = status, headers

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._start("empty", status, headers)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._start("bytes", status, headers)
        self.body = body

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Stream:
        self._start("stream", status, headers)
        return Stream(self)


class RsgiTransport(httpx.AsyncBaseTransport):
    """Requests into `app.__rsgi__`, as granian would make them (its lifespan hooks are the
    caller's: enter the app's Lifespan)."""

    def __init__(self, app: RsgiApp, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        app.bind(asyncio.get_running_loop())
        self.app = app
        self.client = f"{client[0]}:{client[1]}"
        self.answered: list[Protocol] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scope = Scope(
            method=request.method,
            path=unquote(request.url.raw_path.split(b"?", 1)[0].decode("ascii")),
            query_string=request.url.query.decode(),
            headers=Headers(list(request.headers.raw)),
            client=self.client,
            scheme=request.url.scheme,
        )
        proto = Protocol(await request.aread())
        await self.app.__rsgi__(scope, proto)  # granian awaits what it returns
        self.answered.append(proto)
        headers = [(k.encode(), v.encode()) for k, v in proto.headers]  # granian writes UTF-8
        return httpx.Response(proto.status, headers=headers, content=proto.body)
