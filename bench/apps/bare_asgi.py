"""The baseline: a bare ASGI app that answers every request with a 302, doing no other work.

It sends the same headers as Surge's cached redirect (see `surge.redirect.responses.Target`), so
both put the same bytes on the wire and the benchmark measures only what Surge's app adds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

START: Message = {
    "type": "http.response.start",
    "status": 302,
    "headers": [
        (b"location", b"https://example.com/landing"),
        (b"content-length", b"0"),
        (b"cache-control", b"private, max-age=0"),
    ],
}
BODY: Message = {"type": "http.response.body", "body": b""}


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(BODY)
    elif scope["type"] == "lifespan":
        # Served with `--lifespan on` like Surge, so it must complete the lifespan handshake.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
