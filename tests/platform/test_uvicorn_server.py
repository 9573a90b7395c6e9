"""A busy uvicorn on uvloop accepts every waiting connection at once, not one per iteration."""

from __future__ import annotations

import asyncio
import socket
import time

import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from surge.platform.uvicorn_server import GreedyAcceptServer, bounded_config
from tests.e2e.processes import free_port

CONNECTIONS = 40
STALL_S = 0.02  # each event-loop iteration of the busy server takes at least this


async def _found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 302, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _all_answered(port: int) -> float:
    """Open CONNECTIONS at once, a GET on each; seconds until every one is answered."""
    start = time.monotonic()
    clients = [socket.create_connection(("127.0.0.1", port), 10) for _ in range(CONNECTIONS)]
    try:
        for client in clients:
            client.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 302")
        return time.monotonic() - start
    finally:
        for client in clients:
            client.close()


async def _busy_server_answers(server_class: type[uvicorn.Server]) -> float:
    port = free_port()
    config = uvicorn.Config(_found, port=port, lifespan="off", log_level="warning", loop="none")
    server = server_class(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)

    async def stall_every_iteration() -> None:
        while True:
            time.sleep(STALL_S)  # CPU-bound work: each iteration of the loop takes this long
            await asyncio.sleep(0)

    busy = asyncio.create_task(stall_every_iteration())
    try:
        return await asyncio.to_thread(_all_answered, port)
    finally:
        busy.cancel()
        server.should_exit = True
        await serving


def test_a_busy_server_accepts_every_waiting_connection_in_one_go() -> None:
    plain = uvloop.run(_busy_server_answers(uvicorn.Server))
    greedy = uvloop.run(_busy_server_answers(GreedyAcceptServer))
    # One accept per iteration: CONNECTIONS iterations of STALL_S at least.
    assert plain > CONNECTIONS * STALL_S * 0.8
    assert greedy < plain / 4, (greedy, plain)


async def _gated_server_runs(limit: int, connections: int) -> tuple[int, list[int]]:
    """The most requests the app ran at once, and the order it started them in."""
    running, most, order = 0, 0, []
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        order.append(int(scope["path"][1:]))
        await release.wait()
        running -= 1
        await _found(scope, receive, send)

    port = free_port()
    config = bounded_config(app, limit, port=port, lifespan="off", log_level="warning", loop="none")
    server = GreedyAcceptServer(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    streams = []
    for number in range(connections):  # one after another: their arrival order is known
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /{number} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        await writer.drain()
        streams.append((reader, writer))
        while len(order) < min(number + 1, limit):
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)  # what the gate let through by now stays at its limit
    release.set()
    for reader, writer in streams:
        assert (await reader.readline()).startswith(b"HTTP/1.1 302")
        writer.close()
    server.should_exit = True
    await serving
    return most, order


def test_requests_past_the_limit_wait_their_turn_in_arrival_order() -> None:
    most, order = uvloop.run(_gated_server_runs(limit=2, connections=6))
    assert most == 2
    assert order == list(range(6))
