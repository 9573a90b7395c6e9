"""The Shlink API's dependencies: `X-Api-Key` authentication (Surge's keys, limits and rules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.accounts.deps import ApiLimitsDep, KeyServiceDep
from surge.accounts.key_repository import ApiKey
from surge.accounts.keys import KeyService
from surge.accounts.limits import ApiLimits
from surge.platform.metrics import KEY_PREFIX_SCOPE
from surge.platform.replicas import reading_as
from surge.shlink.errors import INVALID_API_KEY, MISSING_AUTHENTICATION


async def authenticate(
    request: Request, keys: KeyService, limits: ApiLimits, secret: str, missing: str
) -> ApiKey:
    """The live key of `secret`, through the same limits as /api/v1 (`missing`: what to say
    when there is none)."""
    ip = await limits.before_auth(request)
    if not secret.strip():
        await limits.failed_auth(ip)
        raise MISSING_AUTHENTICATION(missing)
    key = await keys.authenticate(secret.strip())
    if key is None:
        await limits.failed_auth(ip)
        raise INVALID_API_KEY("Provided API key does not exist or is invalid.")
    request.scope[KEY_PREFIX_SCOPE] = key.prefix
    reading_as(key.user_id)  # what the request then reads shows its own changes
    await limits.after_auth(request, key.id)
    return key


async def require_shlink_key(request: Request, keys: KeyServiceDep, limits: ApiLimitsDep) -> ApiKey:
    """The request's key, from `X-Api-Key`."""
    return await authenticate(
        request,
        keys,
        limits,
        request.headers.get("x-api-key", ""),
        'Expected one of the following authentication headers, ["X-Api-Key"], '
        "but none were provided",
    )


ShlinkKey = Annotated[ApiKey, Depends(require_shlink_key)]
