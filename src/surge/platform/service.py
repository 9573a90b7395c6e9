"""A service is an ASGI app plus start/stop; one or several are served behind one lifespan."""

from __future__ import annotations

import gc
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send


class Service(Protocol):
    name: str

    @property
    def app(self) -> ASGIApp: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Lifespan:
    """Pure ASGI: runs the services' start/stop on lifespan events, hands the rest to `app`."""

    def __init__(self, app: ASGIApp, services: list[Service], *, freeze_gc: bool = False) -> None:
        self.app = app
        self.services = services
        self.freeze_gc = freeze_gc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        for service in self.services:
            await service.start()
        if self.freeze_gc:
            # In a server process, what start-up allocated lives as long as the process: move
            # it out of the collector's sight, so full collections scan only what requests do.
            gc.collect()
            gc.freeze()

    async def shutdown(self) -> None:
        for service in reversed(self.services):
            await service.stop()

    async def __aenter__(self) -> Lifespan:
        await self.startup()
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.shutdown()
