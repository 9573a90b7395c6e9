"""The click event: what redirect emits and analytics ingests. The wire format is a JSON array."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class ClickEvent:
    id: str  # unique per click: the idempotency key of ingest
    link_id: int
    slug: str
    ts: float  # unix seconds, UTC
    referrer: str | None
    user_agent: str | None
    country: str | None
    visitor: str  # daily-salted hash of client IP + user agent; never the raw IP
