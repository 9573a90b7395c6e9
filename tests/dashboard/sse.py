"""A server-sent events client onto an ASGI app in this event loop.

httpx's ASGITransport reads a whole body before it answers, and a live stream has no end: this
calls the app itself, hands it the body chunk by chunk, and says `http.disconnect` when closed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Message


@dataclass
class Event:
    name: str
    data: Any


@dataclass
class Stream:
    status: int
    headers: dict[str, str]
    body: bytes
    _messages: asyncio.Queue[Message]
    _gone: asyncio.Event
    task: asyncio.Task[None]
    _buffer: str = ""
    comments: list[str] = field(default_factory=list)

    async def next_event(self, timeout_s: float = 10.0, name: str | None = None) -> Event:
        """The next event (named `name`, when given); fails the test at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            while "\r\n\r\n" in self._buffer:
                block, self._buffer = self._buffer.split("\r\n\r\n", 1)
                event = self._parse(block)
                if event is not None and (name is None or event.name == name):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {name or 'event'} within {timeout_s}s")
            try:
                message = await asyncio.wait_for(self._messages.get(), left)
            except TimeoutError:
                continue
            if message["type"] != "http.response.body":
                continue
            self._buffer += message.get("body", b"").decode()
            if not message.get("more_body", False):
                self._buffer += "\r\n\r\nevent: end\r\ndata: null\r\n\r\n"

    def _parse(self, block: str) -> Event | None:
        name, data = "message", None
        for line in block.split("\r\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = orjson.loads(line.removeprefix("data: "))
        return None if data is None and name == "message" else Event(name, data)

    async def close(self) -> None:
        """The client goes away; waits until the app has ended the response."""
        self._gone.set()
        await asyncio.wait_for(self.task, 5)


async def open_stream(app: ASGIApp, client: httpx.AsyncClient, url: str) -> Stream:
    """GET `url` on `app` with `client`'s cookies; the response once its head is sent (a
    refusal's body too)."""
    parts = urlsplit(url)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    messages: asyncio.Queue[Message] = asyncio.Queue()
    gone = asyncio.Event()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        await messages.put(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"sho.rt"),
            (b"accept", b"text/event-stream"),
            *([(b"cookie", cookie.encode())] if cookie else []),
        ],
        "client": ("203.0.113.7", 40000),
        "server": ("sho.rt", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    start = await asyncio.wait_for(messages.get(), 10)
    assert start["type"] == "http.response.start", start
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    stream = Stream(start["status"], headers, b"", messages, gone, task)
    if start["status"] != 200:
        body = b""
        while True:
            message = await asyncio.wait_for(messages.get(), 10)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        stream.body = body
        await asyncio.wait_for(task, 5)
    return stream
