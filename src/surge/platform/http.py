"""httpx clients for service-to-service REST. Created in a service's lifespan, never at import."""

from __future__ import annotations

import hmac

import httpx
from starlette.types import Scope
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

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


def idempotent_retries() -> AsyncRetrying:
    """Retries of an idempotent call that failed before it reached the other side (connection
    refused or reset: a replica restarting): two more tries after 20-200 ms of jittered backoff.
    Never after a timeout: the other side may be hung, and its breaker deals with that."""
    return AsyncRetrying(
        retry=retry_if_exception_type(httpx.ConnectError),
        stop=stop_after_attempt(3),
        wait=wait_random_exponential(multiplier=0.02, max=0.2),
        reraise=True,
    )


def internal_token_ok(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def client_ip(scope: Scope, trusted_header: bytes) -> str:
    """The client's address: the first entry of the trusted proxy header when one is configured
    (`SURGE_CLIENT_IP_HEADER`, only behind a proxy that sets it), else the peer's. (The
    redirect's click recording reads it in its one pass over the headers instead.)"""
    if trusted_header:
        for name, value in scope["headers"]:
            if name == trusted_header:
                return str(value.decode("latin-1").split(",", 1)[0].strip())
    client = scope.get("client")
    return str(client[0]) if client else ""
