"""httpx clients for service-to-service REST. Created in a service's lifespan, never at import."""

from __future__ import annotations

import hmac

import httpx

from surge.platform.tracing import active as active_tracing

INTERNAL_TOKEN_HEADER = "x-surge-internal-token"


def internal_client(
    base_url: str,
    token: str,
    *,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for another service's `/internal` API.

    In the all-in-one mode `transport` is an `httpx.ASGITransport` onto the other service's app,
    so the very same client code runs in one process and across the network.
    """
    client = httpx.AsyncClient(
        base_url=base_url,
        headers={INTERNAL_TOKEN_HEADER: token},
        timeout=httpx.Timeout(timeout_s),
        transport=transport,
    )
    tracing = active_tracing()
    if tracing is not None:  # every call then carries the W3C traceparent
        tracing.httpx_client(client)
    return client


def internal_token_ok(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
