"""Circuit breakers around each dependency (purgatory): after `threshold` failures in a row a
breaker opens, and for `ttl_s` every call fails at once instead of waiting for its timeout;
then one call is let through to test the dependency (half-open).

purgatory over aiobreaker and circuitbreaker: it is asyncio-native and maintained, and its
closed-state cost was the lowest measured here (0.57 µs per call, against 1.46 and 0.93 µs;
one breaker object per dependency, fetched once). Only the errors that mean "the dependency is
unavailable" count as failures: a 404 or a bad request is the dependency answering.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

from surge.platform.config import Settings
from surge.platform.metrics import BREAKER_OPEN

__all__ = ["Breaker", "BreakerOpen", "Breakers"]
BreakerOpen = OpenedState  # raised by a call while its breaker is open


class Breaker:
    """One dependency's breaker; `guard()` around each call to it."""

    def __init__(self, name: str, inner: AsyncCircuitBreaker) -> None:
        self.name = name
        self.inner = inner

    @property
    def open(self) -> bool:
        return self.inner.context.state == "opened"

    @property
    def refusing(self) -> bool:
        """Open and within its ttl: a call now fails at once. Past the ttl it is still "open"
        until the next call, which is let through to test the dependency."""
        context = self.inner.context
        opened_at = context.opened_at
        return self.open and opened_at is not None and time.time() <= opened_at + context.ttl

    @property
    def state(self) -> str:
        return str(self.inner.context.state)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Raises BreakerOpen at once while open; a failure inside counts toward opening it."""
        async with self.inner:
            yield


class Breakers:
    """The breakers of one service, by dependency name; their state is a metric."""

    def __init__(self, *, threshold: int, ttl_s: float) -> None:
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.factory = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=ttl_s)
        self.factory.add_listener(self._changed)
        self.by_name: dict[str, Breaker] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Breakers:
        return cls(threshold=settings.breaker_threshold, ttl_s=settings.breaker_ttl_s)

    async def get(self, name: str, is_failure: Callable[[BaseException], bool]) -> Breaker:
        breaker = self.by_name.get(name)
        if breaker is None:
            inner = await self.factory.get_breaker(
                name, exclude=[(Exception, lambda exc: not is_failure(exc))]
            )
            breaker = self.by_name[name] = Breaker(name, inner)
            BREAKER_OPEN.labels(name).set(0)
        return breaker

    def open_ones(self) -> list[str]:
        return [name for name, breaker in self.by_name.items() if breaker.open]

    def _changed(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            BREAKER_OPEN.labels(name).set(1 if event.state == "opened" else 0)
