"""FastAPI dependencies of the api service, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from surge.links.keys import authenticate
from surge.links.repository import ApiKey
from surge.links.service import LinkService
from surge.platform.internal_auth import require_internal_token
from surge.platform.problems import ProblemError


def get_link_service(request: Request) -> LinkService:
    service: LinkService = request.app.state.link_service
    return service


async def require_api_key(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> ApiKey:
    scheme, _, secret = (authorization or "").partition(" ")
    key = None
    if scheme.lower() == "bearer" and secret.strip():
        key = await authenticate(get_link_service(request).sessions, secret.strip())
    if key is None:
        raise ProblemError(
            401,
            "unauthorized",
            "Unauthorized",
            "Send a valid API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


LinkServiceDep = Annotated[LinkService, Depends(get_link_service)]
CurrentKey = Annotated[ApiKey, Depends(require_api_key)]
InternalOnly = Depends(require_internal_token)
