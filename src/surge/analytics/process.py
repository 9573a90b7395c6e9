"""The all-in-one's analytics in a process of its own (`SURGE_ALL_IN_ONE_ANALYTICS=process`, the
default; docs/adr/0016-analytics-in-a-child-process.md): ingest and stats then run beside the
redirects on another core, not under their GIL.

`AnalyticsProcess` is the parent's side: the child (`python -m surge.analytics.process --uds
PATH`, this module's `main`), spawned as the app is built and started (given its settings, waited
for) with the server; reached over a Unix socket by the api and the redirect through the same
internal clients as across the network; and, without Redis, the live feed relayed from the
child's hub into the api's. With Redis the api reads the live stream itself.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from types import FrameType

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surge.data.live import LiveHub, new_live_hub, pack, unpack
from surge.platform.child_process import ChildProcess
from surge.platform.config import Settings
from surge.platform.http import INTERNAL_TOKEN_HEADER, internal_token_ok
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.problems import FORBIDDEN, PROBLEM_CONTENT_TYPE

log = get_logger(__name__)
LIVE_PATH = "/internal/analytics/live"
KEEPALIVE_S = 5.0  # an empty line this often: a relay to a dead child notices
READY_TIMEOUT_S = 120.0  # the child migrates the database before it is ready
STOP_TIMEOUT_S = 30.0  # its graceful stop (uvicorn's 20 s) and then some


class AnalyticsProcess:
    """The analytics service as seen from the all-in-one process: a child process."""

    name = "analytics"

    def __init__(self, settings: Settings, live_hub: LiveHub) -> None:
        self.child = ChildProcess(
            "analytics",
            __name__,
            ready_timeout_s=READY_TIMEOUT_S,
            stop_timeout_s=STOP_TIMEOUT_S,
            # The parent's settings, whatever made them (the environment, a test), not the
            # child's own reading of the environment.
            stdin=settings.model_dump_json().encode(),
        )
        self.live_hub = live_hub
        self.token = settings.internal_token
        self.relays_live = settings.redis_url is None
        self.relay = SupervisedLoop("analytics-live-relay", self._relay_live)

    @property
    def app(self) -> ASGIApp:
        return self.child.app

    def transport(self) -> httpx.AsyncBaseTransport:
        return self.child.transport()

    def spawn(self) -> None:
        """The child's interpreter, early: it imports while the parent builds (see `start`)."""
        self.child.spawn()

    async def start(self) -> None:
        await self.child.start()
        if self.relays_live:
            self.relay.start()

    async def stop(self) -> None:
        # The relay first: its stream would hold the child's graceful stop open.
        await self.relay.stop(timeout_s=1.0)
        await self.child.stop()

    async def _relay_live(self) -> None:
        headers = {INTERNAL_TOKEN_HEADER: self.token}
        async with self.child.client.stream("GET", LIVE_PATH, headers=headers) as answer:
            answer.raise_for_status()
            async for line in answer.aiter_lines():
                if line:
                    self.live_hub.publish(unpack(line.encode()))


class LiveStream:
    """Pure ASGI, in the child: `GET /internal/analytics/live` streams the live feed's messages
    as lines of `surge.data.live.pack`; everything else goes to analytics' app."""

    def __init__(self, app: ASGIApp, hub: LiveHub, token: str) -> None:
        self.app = app
        self.hub = hub
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != LIVE_PATH:
            await self.app(scope, receive, send)
            return
        presented = dict(scope["headers"]).get(INTERNAL_TOKEN_HEADER.encode())
        if not internal_token_ok(presented.decode() if presented else None, self.token):
            body = FORBIDDEN.body("Internal endpoint: token required.")
            content_type = PROBLEM_CONTENT_TYPE.encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", content_type)]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        subscription = self.hub.subscribe()

        async def until_disconnected() -> None:
            message: Message = {"type": ""}
            while message["type"] != "http.disconnect":
                message = await receive()
            subscription.close()

        watcher = asyncio.create_task(until_disconnected())
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-ndjson")]})  # fmt: skip
            while (items := await subscription.next(timeout_s=KEEPALIVE_S)) is not None:
                lines = b"".join(pack(message) + b"\n" for message in items) or b"\n"
                await send({"type": "http.response.body", "body": lines, "more_body": True})
            await send({"type": "http.response.body", "body": b""})  # closed: the child stops
        finally:
            subscription.close()
            watcher.cancel()


def main(argv: Sequence[str] | None = None) -> None:
    """The child: analytics on `--uds` with the settings read from stdin (JSON), stopped by
    SIGTERM (from its parent, or when it dies).

    Spawned while the parent builds its app (`ChildProcess.spawn`): it imports what it runs
    first, on a core of its own, then waits for its settings. Stdin ending without them is a
    parent that will not serve (it dropped the app unstarted, or died): the child then ends,
    quietly, having touched nothing."""
    import sys

    from surge.platform.shutdown import end_with_parent

    end_with_parent()  # first: a parent killed during the imports below takes the child along
    parser = argparse.ArgumentParser(prog="python -m surge.analytics.process")
    parser.add_argument("--uds", required=True, help="the Unix socket to serve on")
    args = parser.parse_args(argv)

    import uvicorn

    from surge.analytics.app import AnalyticsService
    from surge.platform.logging import configure_logging
    from surge.platform.service import Lifespan
    from surge.platform.tracing import configure_from_environment as configure_tracing

    given = sys.stdin.buffer.read()
    if not given:
        return  # not started by its parent (a ValidationError's traceback would say nothing)
    settings = Settings.model_validate_json(given)
    configure_logging(settings.log_level)
    configure_tracing("analytics")
    hub = new_live_hub()
    analytics = AnalyticsService(settings, migrate=settings.migrates_on_start, live_hub=hub)
    app = Lifespan(
        LiveStream(analytics.app, hub, settings.internal_token), [analytics], freeze_gc=True
    )

    class ChildServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The live streams end first: open, they would hold the graceful stop for its timeout.
            loop = asyncio.get_event_loop()
            loop.call_soon_threadsafe(hub.close_all)
            super().handle_exit(sig, frame)

    server = ChildServer(
        uvicorn.Config(
            app,
            uds=args.uds,
            lifespan="on",
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=20,
        )
    )
    server.run()
    if not server.started:
        sys.exit(3)


if __name__ == "__main__":
    main()
