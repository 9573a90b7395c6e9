"""FastAPI dependencies of the api service, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from surge.api.keys.repository import ApiKey
from surge.api.keys.service import KeyService
from surge.api.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.internal_auth import require_internal_token
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


async def require_api_key(
    keys: KeyServiceDep, authorization: Annotated[str | None, Header()] = None
) -> ApiKey:
    scheme, _, secret = (authorization or "").partition(" ")
    key = None
    if scheme.lower() == "bearer" and secret.strip():
        key = await keys.authenticate(secret.strip())
    if key is None:
        raise UNAUTHORIZED(
            "Send a valid API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


CurrentKey = Annotated[ApiKey, Depends(require_api_key)]
InternalOnly = Depends(require_internal_token)
