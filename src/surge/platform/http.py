"""httpx clients for service-to-service REST. Created in a service's lifespan, never at import."""

from __future__ import annotations

import hmac
from typing import Annotated

import httpx
from fastapi import Header, Request

from surge.platform.problems import ProblemError

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
    return httpx.AsyncClient(
        base_url=base_url,
        headers={INTERNAL_TOKEN_HEADER: token},
        timeout=httpx.Timeout(timeout_s),
        transport=transport,
    )


def internal_token_ok(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def require_internal_token(
    request: Request, x_surge_internal_token: Annotated[str | None, Header()] = None
) -> None:
    """FastAPI dependency guarding `/internal/...`: the shared internal token or 403."""
    if not internal_token_ok(x_surge_internal_token, request.app.state.settings.internal_token):
        raise ProblemError(403, "forbidden", "Forbidden", "Internal endpoint: token required.")
