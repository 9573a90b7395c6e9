"""Pure ASGI middleware: a public request body over `max_bytes` is answered 413 before the app
parses it. By its Content-Length when it has one (the server never passes on more than that);
a body without one (chunked) is read here first, up to the limit, and handed on whole.
Internal calls (click batches) have their own bounds. Paths that take a batch (many links in
one request) may be given a larger limit of their own."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surge.platform.problems import BODY_TOO_LARGE, PROBLEM_CONTENT_TYPE


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        """`larger`: the limit of each path (and those under it) that takes more."""
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    def _limit(self, path: str) -> int:
        for prefix, max_bytes in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/internal/"):
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope["path"])
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > max_bytes:
                    await self._refuse(send, max_bytes)
                    return
                await self.app(scope, receive, send)
                return
            if name == b"transfer-encoding":
                chunked = True
        if not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            part = message.get("body", b"")
            size += len(part)
            if size > max_bytes:
                await self._refuse(send, max_bytes)
                return
            parts.append(part)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(parts), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return whole
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = BODY_TOO_LARGE.body(f"A request body may be at most {max_bytes} bytes.")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
