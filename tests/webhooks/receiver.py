"""A webhook receiver for tests: a small HTTP/1.1 server that appends every request it gets to
a JSON-lines file (headers, body, the status it answered, 0 for none), and answers as a mode
file says: `ok` (200), `fail` (500) or `hang` (never answers). Runs in a test's event loop
(`Receiver`) or as a process of its own (`python tests/webhooks/receiver.py PORT LOG MODE`),
which a test may kill -9 and start again: what it logged stays."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any


class Receiver:
    def __init__(self, log: Path, mode: Path) -> None:
        self.log = log
        self.mode = mode
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> Receiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.connections):
                writer.transport.abort()  # a hung request must not keep the test waiting
            await self.server.wait_closed()

    def _mode(self) -> str:
        try:
            return self.mode.read_text().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ": " in line:
                        name, value = line.split(": ", 1)
                        headers[name.lower()] = value
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                mode = self._mode()
                if mode == "hang":
                    self._record(headers, body, 0)  # 0: no answer, ever
                    await asyncio.sleep(3600)
                    return
                status = 200 if mode == "ok" else 500
                self._record(headers, body, status)
                reason = "OK" if status == 200 else "Internal Server Error"
                writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self.connections.discard(writer)
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes, status: int) -> None:
        line = json.dumps({"headers": headers, "body": body.decode(), "status": status})
        with self.log.open("a") as out:
            out.write(line + "\n")


def received(log: Path) -> list[dict[str, Any]]:
    """What a receiver logged: every request, in the order it came."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]


async def main(port: int, log: Path, mode: Path) -> None:
    receiver = await Receiver(log, mode).start(port)
    print(f"listening on {receiver.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
