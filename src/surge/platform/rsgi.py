"""Surge's services on granian's native interface (RSGI), ASGI underneath.

Under granian's ASGI each request costs ~22,000 more instructions in the server than under its
RSGI (62,400 against 40,700 for the same bare 302, callgrind of the worker;
docs/adr/0012-rsgi-on-granian.md): the scope dict, the header tuples and two awaited `send`
calls are made whatever the app does. So `surge serve` runs granian's RSGI with:

- a native handler first (the redirect service's `serve_native`): a cached redirect answered
  straight from RSGI's objects, no ASGI message made; it declines what it does not serve;
- every other request through this adapter to the same ASGI app uvicorn runs (api, dashboard,
  analytics, the redirect's other paths), so one code path serves both servers.

The lifespan is run by granian's init and del hooks: start-up before the first request,
shutdown (clicks flushed) after the last connection is drained.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

from starlette.types import Message, Scope

from surge.platform.logging import get_logger
from surge.platform.service import Lifespan

log = get_logger(__name__)
ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
NO_CONTENT_YET = 500  # what is sent when the app ends (or fails) before starting a response


class RsgiHeaders(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def items(self) -> list[tuple[str, str]]: ...


class RsgiScope(Protocol):
    proto: str
    http_version: str
    method: str
    path: str  # percent-decoded, as ASGI's
    query_string: str
    client: str  # "address:port"
    server: str
    scheme: str

    @property
    def headers(self) -> RsgiHeaders: ...


class RsgiStream(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...


class RsgiProtocol(Protocol):
    def __aiter__(self) -> Any: ...
    async def client_disconnect(self) -> None: ...
    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...
    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> RsgiStream: ...


# Answers a request from RSGI's objects and says True, or says False and leaves it untouched.
NativeHandler = Callable[[RsgiScope, RsgiProtocol], bool]


def address(endpoint: str) -> tuple[str, int]:
    """RSGI's "host:port" (IPv6 bare or bracketed) as ASGI's (host, port)."""
    host, _, port = endpoint.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, int(port) if port.isdigit() else 0


def asgi_scope(scope: RsgiScope) -> Scope:
    """The ASGI HTTP scope of an RSGI request. granian's RSGI leaves out header values that are
    not visible ASCII (its ASGI passes them as bytes): they are absent here too."""
    return {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "query_string": scope.query_string.encode(),  # RSGI decoded it as UTF-8
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
        "client": address(scope.client),
        "server": address(scope.server),
        "state": {},
    }


def _text(value: bytes) -> str:
    """A header value as RSGI takes it: granian writes str values as UTF-8, so the bytes on the
    wire are the app's when they are UTF-8 (ASCII always is); others go as their Latin-1."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _str_headers(headers: Iterator[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), _text(v)) for k, v in headers]


class AsgiExchange:
    """One request's ASGI `receive` and `send` over its RSGI protocol: the body streamed in
    chunks (so the api's body limits still stop a large upload early), the response sent
    whole when it comes in one body message, streamed otherwise."""

    __slots__ = ("body", "done", "headers", "proto", "status", "stream")

    def __init__(self, proto: RsgiProtocol) -> None:
        self.proto = proto
        self.body: Any = None  # the request body's chunk iterator, once reading started
        self.status = 0  # set by http.response.start
        self.headers: list[tuple[str, str]] = []
        self.stream: RsgiStream | None = None
        self.done = False

    async def receive(self) -> Message:
        if self.done:
            await self.proto.client_disconnect()
            return {"type": "http.disconnect"}
        if self.body is None:
            self.body = self.proto.__aiter__()
        try:
            chunk: bytes = await self.body.__anext__()
        except StopAsyncIteration:
            self.done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = _str_headers(message.get("headers", ()))
            return
        if kind != "http.response.body" or not self.status:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.stream is None:
            if not more:
                self.proto.response_bytes(self.status, self.headers, body)
                self.status = -1  # answered: nothing more may be sent
                return
            self.stream = self.proto.response_stream(self.status, self.headers)
        if body:
            await self.stream.send_bytes(body)
        if not more:
            self.status = -1
            # granian ends a streamed body when its stream object goes; the ASGI app may keep
            # this exchange alive in a reference cycle (a task's closure) until a GC pass much
            # later, which held the response and a worker's graceful stop open (3-16 s).
            self.stream = None


class RsgiApp:
    """The object granian's RSGI worker serves: the lifespan's services, the native handler,
    then the ASGI app."""

    def __init__(self, lifespan: Lifespan, native: NativeHandler | None = None) -> None:
        self.lifespan = lifespan
        self.app = lifespan.app
        self.native = native
        # What a natively answered request returns to granian to await: a future already done,
        # whose await (C code) ends at once, instead of a coroutine made and run per request.
        self.answered: asyncio.Future[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ready to answer on `loop` (granian's worker's; a test's)."""
        self.answered = loop.create_future()
        self.answered.set_result(None)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.bind(loop)
        try:
            loop.run_until_complete(self.lifespan.startup())
        except Exception:
            # As granian's ASGI lifespan does: the worker, then the server, exit with 1.
            log.exception("startup_failed")
            sys.exit(1)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.lifespan.shutdown())

    def __rsgi__(self, scope: RsgiScope, proto: RsgiProtocol) -> Awaitable[None]:
        """What granian awaits for this request (it takes any awaitable)."""
        native = self.native
        if native is not None and self.answered is not None and native(scope, proto):
            return self.answered
        return self.through_asgi(scope, proto)

    async def through_asgi(self, scope: RsgiScope, proto: RsgiProtocol) -> None:
        exchange = AsgiExchange(proto)
        try:
            await self.app(asgi_scope(scope), exchange.receive, exchange.send)
        except Exception:
            log.exception("request_failed", path=scope.path)
            if exchange.status == 0:
                proto.response_empty(NO_CONTENT_YET, [])
            return
        if exchange.status == 0:  # the app ended without answering
            proto.response_empty(NO_CONTENT_YET, [])
