"""The keys API (`/api/v1/keys`): admin keys list, create and revoke keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, Field

from surge.api.deps import CurrentKey, KeyServiceDep
from surge.api.keys.repository import ApiKey
from surge.platform.problems import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, problem_responses


def require_admin(key: CurrentKey) -> ApiKey:
    if not key.is_admin:
        raise FORBIDDEN("Only an admin key manages keys.")
    return key


router = APIRouter(
    prefix="/api/v1/keys",
    tags=["keys"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(UNAUTHORIZED, FORBIDDEN),
)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters: how lists and logs name it.")
    admin: bool
    created_at: datetime
    revoked_at: datetime | None


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    admin: bool = False


class KeyCreated(BaseModel):
    id: int
    name: str
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
        )
        for k in await keys.all()
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyCreate, keys: KeyServiceDep) -> KeyCreated:
    created = await keys.create(body.name.strip(), is_admin=body.admin)
    return KeyCreated(id=created.id, name=created.name, key=created.secret)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(NOT_FOUND),
)
async def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**62)], keys: KeyServiceDep) -> Response:
    if not await keys.revoke(key_id):
        raise NOT_FOUND(f"No live key with id {key_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
