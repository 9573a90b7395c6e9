"""The keys API (`/api/v1/keys`): admin keys list, create and revoke keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from surge.accounts.deps import CurrentKey, KeyServiceDep, require_admin_key
from surge.accounts.keys import KeyLifetimeDays, KeyName
from surge.links.schemas import JSON_INTEGER
from surge.platform.problems import (
    FORBIDDEN,
    KEY_IN_USE,
    NOT_FOUND,
    UNAUTHORIZED,
    problem_responses,
)

router = APIRouter(
    prefix="/api/v1/keys",
    tags=["keys"],
    dependencies=[Depends(require_admin_key)],
    responses=problem_responses(UNAUTHORIZED, FORBIDDEN),
)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters: how lists and logs name it.")
    admin: bool
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request (noted at most once a minute)."
    )
    owner_id: int = Field(description="The user the key and its links belong to.")
    owner_email: str | None = Field(description="None for a key-only owner (cannot sign in).")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    admin: StrictBool = False  # 0 is not `false`
    expires_in_days: (
        Annotated[
            KeyLifetimeDays,
            Field(description="The key stops working after this many days."),
            JSON_INTEGER,
        ]
        | None
    ) = None


class KeyCreated(BaseModel):
    id: int
    name: str
    prefix: str
    expires_at: datetime | None
    key: str = Field(description="The secret: shown this once, stored only as a hash.")


@router.get("")
async def list_keys(keys: KeyServiceDep) -> list[KeyOut]:
    return [
        KeyOut(
            id=k.id,
            name=k.name,
            prefix=k.key_prefix,
            admin=k.is_admin,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            expires_at=k.expires_at,
            last_used_at=k.last_used_at,
            owner_id=k.user_id,
            owner_email=k.owner_email,
        )
        for k in await keys.all()
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyCreate, keys: KeyServiceDep) -> KeyCreated:
    expires_in = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    created = await keys.create(body.name.strip(), is_admin=body.admin, expires_in=expires_in)
    return KeyCreated(
        id=created.id,
        name=created.name,
        prefix=created.prefix,
        expires_at=created.expires_at,
        key=created.secret,
    )


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(NOT_FOUND, KEY_IN_USE),
)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**62)], current: CurrentKey, keys: KeyServiceDep
) -> Response:
    if key_id == current.id:  # an admin must not lock themselves out by accident
        raise KEY_IN_USE("A key cannot revoke itself: revoke it with another admin key.")
    if not await keys.revoke(key_id):
        raise NOT_FOUND(f"No live key with id {key_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
