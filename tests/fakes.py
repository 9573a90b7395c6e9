"""Fakes of the services a service under test talks to, at the HTTP boundary (httpx transports)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from surge.data.events import ClickEvent, unpack_batch

# What the fake api answers for `/internal/links/viral`.
LINK = {"link_id": 7, "slug": "viral", "url": "https://example.com/ü?x=1", "redirect_type": 302}


@dataclass
class FakeApi:
    """The api's `/internal/links/{slug}`: answers from `links`, counts calls, can be 'down'."""

    links: dict[str, dict[str, object]] = field(default_factory=dict)
    calls: int = 0
    down: bool = False
    delay_s: float = 0.0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.down:
            raise httpx.ConnectError("api down", request=request)
        slug = request.url.path.rsplit("/", 1)[-1]
        if slug not in self.links:
            return httpx.Response(404, json={"status": 404})
        return httpx.Response(200, json=self.links[slug])


@dataclass
class FakeAnalytics:
    """Analytics' click ingest: keeps the batches it receives, or answers 503 when 'down'."""

    batches: list[list[ClickEvent]] = field(default_factory=list)
    down: bool = False

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        self.batches.append(unpack_batch(request.content))
        return httpx.Response(200, json={})

    @property
    def events(self) -> list[ClickEvent]:
        return [e for batch in self.batches for e in batch]
