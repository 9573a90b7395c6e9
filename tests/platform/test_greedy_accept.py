"""A busy uvicorn on uvloop accepts every waiting connection at once, not one per iteration."""

from __future__ import annotations

import asyncio
import socket
import time

import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from surge.platform.greedy_accept import GreedyAcceptServer
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
