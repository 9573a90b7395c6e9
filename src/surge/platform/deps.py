"""FastAPI dependencies every door shares that belong to no domain, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.platform.config import Settings
from surge.platform.internal_auth import require_internal_token


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
InternalOnly = Depends(require_internal_token)
