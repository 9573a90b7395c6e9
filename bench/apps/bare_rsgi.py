"""Granian's own limit: a bare RSGI app answering every request with the same 302 as
bench/apps/bare_asgi.py (RSGI is granian's native interface, no ASGI message dicts in between)."""

from __future__ import annotations

from typing import Any

HEADERS = [
    ("location", "https://example.com/landing"),
    ("content-length", "0"),
    ("cache-control", "private, max-age=0"),
]


async def app(scope: Any, proto: Any) -> None:
    proto.response_empty(302, HEADERS)
