"""What must end when the server begins its shutdown is told once (the granian worker's chained
signal handler is tested on a real server: tests/e2e/test_live_shutdown.py)."""

from __future__ import annotations

from surge.platform.shutdown import forget, on_server_stopping, server_stopping


def test_everyone_who_asked_is_told_once() -> None:
    told: list[str] = []

    def first() -> None:
        told.append("first")

    def gone() -> None:
        told.append("gone")

    on_server_stopping(first)
    on_server_stopping(gone)
    forget(gone)  # a service that stopped before the server did
    server_stopping()
    server_stopping()  # a second signal
    assert told == ["first"]
