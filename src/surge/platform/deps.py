"""FastAPI dependencies every door shares that belong to no domain, as `Annotated` aliases.

Every dependency in Surge is `async def`, these and the domains' alike: FastAPI runs a plain
`def` one in a worker thread, a thread hop (and, in the all-in-one, a GIL hand-over beside the
redirects) per dependency per request, four or five of them per API call for an attribute
read. tests/platform/test_fastapi_app.py holds the rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.platform.config import Settings
from surge.platform.internal_auth import require_internal_token


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
InternalOnly = Depends(require_internal_token)
