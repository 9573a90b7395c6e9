"""FastAPI dependencies of the api service, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from surge.api.keys.repository import ApiKey
from surge.api.keys.service import KeyService
from surge.api.limits import ApiLimits
from surge.api.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.internal_auth import require_internal_token
from surge.platform.metrics import KEY_PREFIX_SCOPE
from surge.platform.problems import UNAUTHORIZED


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_link_service(request: Request) -> LinkService:
    service: LinkService = request.app.state.link_service
    return service


def get_key_service(request: Request) -> KeyService:
    service: KeyService = request.app.state.key_service
    return service


SettingsDep = Annotated[Settings, Depends(get_settings)]
LinkServiceDep = Annotated[LinkService, Depends(get_link_service)]
KeyServiceDep = Annotated[KeyService, Depends(get_key_service)]


def get_api_limits(request: Request) -> ApiLimits:
    limits: ApiLimits = request.app.state.api_limits
    return limits


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
    await limits.after_auth(request, key.id)
    return key


CurrentKey = Annotated[ApiKey, Depends(require_api_key)]
InternalOnly = Depends(require_internal_token)
