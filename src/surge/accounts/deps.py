"""Accounts as FastAPI dependencies, for every door: the key and user services, the API's
limits, and the request's API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from surge.accounts.key_repository import ApiKey
from surge.accounts.keys import KeyService
from surge.accounts.limits import ApiLimits
from surge.accounts.users import UserService
from surge.platform.metrics import KEY_PREFIX_SCOPE
from surge.platform.problems import FORBIDDEN, UNAUTHORIZED
from surge.platform.replicas import reading_as


async def get_key_service(request: Request) -> KeyService:
    service: KeyService = request.app.state.key_service
    return service


async def get_user_service(request: Request) -> UserService:
    service: UserService = request.app.state.user_service
    return service


async def get_api_limits(request: Request) -> ApiLimits:
    limits: ApiLimits = request.app.state.api_limits
    return limits


KeyServiceDep = Annotated[KeyService, Depends(get_key_service)]
UserServiceDep = Annotated[UserService, Depends(get_user_service)]
ApiLimitsDep = Annotated[ApiLimits, Depends(get_api_limits)]


async def require_api_key(
    request: Request,
    keys: KeyServiceDep,
    limits: ApiLimitsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> ApiKey:
    """The request's live key, within its IP's and its own rate limits."""
    ip = await limits.before_auth(request)
    scheme, _, secret = (authorization or "").partition(" ")
    key = None
    if scheme.lower() == "bearer" and secret.strip():
        key = await keys.authenticate(secret.strip())
    if key is None:
        await limits.failed_auth(ip)
        raise UNAUTHORIZED(
            "Send a valid API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.scope[KEY_PREFIX_SCOPE] = key.prefix
    reading_as(key.user_id)  # what the request then reads shows its own changes
    await limits.after_auth(request, key.id)
    return key


CurrentKey = Annotated[ApiKey, Depends(require_api_key)]


async def require_admin_key(key: CurrentKey) -> ApiKey:
    """The request's key, if it is an admin's (403 otherwise): keys and domains are theirs."""
    if not key.is_admin:
        raise FORBIDDEN("Only an admin key may do this.")
    return key


AdminKey = Annotated[ApiKey, Depends(require_admin_key)]
