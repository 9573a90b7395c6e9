"""A service on an event loop of its own: its ASGI calls and its start/stop run in its thread,
receive and send on the caller's loop; load shedding neither measures nor counts it."""

from __future__ import annotations

import asyncio
import threading

import httpx
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from surge.platform.admission import ShedApiRequests, admission
from surge.platform.side_loop import CrossLoopApp, SideLoop, ThreadedService, on_side_loop


class Echo:
    """Answers with the request body, and notes where it ran and what load shedding saw."""

    name = "echo"

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.in_flight: list[int] = []
        self.app = ShedApiRequests(self._echo, "echo")

    async def _echo(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.threads.append(threading.get_ident())
        self.in_flight.append(admission.in_flight)
        body = await Request(scope, receive).body()  # every receive() crosses back
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def start(self) -> None:
        self.threads.append(threading.get_ident())
        admission.watch_lag()  # as open_data_service does: a side loop is not measured

    async def stop(self) -> None:
        self.threads.append(threading.get_ident())
        await admission.stop_watching()


async def test_a_threaded_service_runs_its_start_requests_and_stop_in_its_thread() -> None:
    echo = Echo()
    service = ThreadedService(echo)
    await service.start()
    thread = service.side.thread
    assert thread is not None
    assert thread.name == "echo-loop"
    assert admission._watching is None  # no task of the side loop measures "the" lag
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/echo", content=b"x" * 100_000)
    assert response.status_code == 200
    assert response.content == b"x" * 100_000
    await service.stop()
    assert echo.threads == [thread.ident] * 3
    assert thread.ident != threading.get_ident()
    assert not thread.is_alive()
    assert echo.in_flight == [0]  # the caller's middleware counts; this one let it through


async def test_cancelling_the_caller_cancels_the_call_on_the_side_loop() -> None:
    side = SideLoop("cancel-test")
    side.start()
    started, cancelled = threading.Event(), threading.Event()

    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def nothing() -> dict[str, str]:
        return {"type": "http.disconnect"}

    async def ignore(_message: object) -> None:
        return None

    call = asyncio.create_task(CrossLoopApp(forever, side)({"type": "http"}, nothing, ignore))
    assert await asyncio.to_thread(started.wait, 5)
    call.cancel()
    assert await asyncio.to_thread(cancelled.wait, 5)
    await side.close()


async def test_on_side_loop_is_true_only_in_a_side_loop_thread() -> None:
    side = SideLoop("flag-test")
    side.start()

    async def flag() -> bool:
        return on_side_loop()

    assert await side.run(flag())
    assert not on_side_loop()
    await side.close()
