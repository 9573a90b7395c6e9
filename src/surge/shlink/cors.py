"""CORS for browser clients of the Shlink API (e.g. Shlink's web client on its own origin).

The API authenticates with the `X-Api-Key` header, never a cookie, so allowing an origin gives
it nothing a visitor's browser holds: a page can only use a key it already has. That is why the
default (`SURGE_CORS_ORIGINS=*`) is any origin, as Shlink does; credentials are never allowed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from surge.platform.config import Settings

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
DEFAULT_ALLOWED_HEADERS = "X-Api-Key, Content-Type, Accept"
PREFLIGHT_MAX_AGE_S = "3600"


def allowed_origin(settings: Settings, origin: str | None) -> str | None:
    """What `Access-Control-Allow-Origin` says to this origin, or None: not allowed."""
    if not origin:
        return None
    if "*" in settings.cors_origins:
        return "*"
    return origin if origin in settings.cors_origins else None


def with_cors(request: Request, response: Response) -> Response:
    settings: Settings = request.app.state.settings
    allowed = allowed_origin(settings, request.headers.get("origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = (
            "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
        )
    if allowed != "*":
        response.headers["Vary"] = "Origin"  # the answer depends on who asks
    return response


def preflight(request: Request) -> Response:
    """The answer to a browser's OPTIONS preflight: 204, with the CORS grant when the origin
    is allowed (without it, the browser refuses the real request)."""
    settings: Settings = request.app.state.settings
    response = Response(status_code=204)
    allowed = allowed_origin(settings, request.headers.get("origin"))
    if allowed is not None:
        requested = request.headers.get("access-control-request-headers")
        response.headers.update(
            {
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": requested or DEFAULT_ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
            }
        )
    if allowed != "*":
        response.headers["Vary"] = "Origin"
    return response
