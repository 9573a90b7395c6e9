"""The FastAPI guard of `/internal/...` endpoints (api, analytics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from surge.platform.http import internal_token_ok
from surge.platform.problems import FORBIDDEN


async def require_internal_token(
    request: Request, x_surge_internal_token: Annotated[str | None, Header()] = None
) -> None:
    """The shared internal token, or 403."""
    if not internal_token_ok(x_surge_internal_token, request.app.state.settings.internal_token):
        raise FORBIDDEN("Internal endpoint: token required.")
