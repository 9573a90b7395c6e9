"""All SQL of API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.accounts.user_repository import owner_scope
from surge.data.tables import api_keys, users


@dataclass(slots=True, frozen=True)
class ApiKey:
    """The key a request authenticated with."""

    id: int
    name: str
    prefix: str
    is_admin: bool
    user_id: int  # the owner of the key, and of the links it creates

    @property
    def owner_scope(self) -> int | None:
        """Whose links this key sees: its owner's, or (an admin key) everyone's."""
        return owner_scope(self.user_id, self.is_admin)


@dataclass(slots=True, frozen=True)
class KeyRow:
    """A key as an admin sees it: never its secret, nor its hash."""

    id: int
    name: str
    key_prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user_id: int
    owner_email: str | None


@dataclass(slots=True, frozen=True)
class NewKeyRow:
    user_id: int
    name: str
    key_hash: str
    key_prefix: str
    is_admin: bool
    created_at: datetime
    expires_at: datetime | None


class KeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: NewKeyRow) -> int:
        result = await self.session.execute(
            insert(api_keys)
            .values(
                user_id=key.user_id,
                name=key.name,
                key_hash=key.key_hash,
                key_prefix=key.key_prefix,
                is_admin=key.is_admin,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
            .returning(api_keys.c.id)
        )
        return int(result.scalar_one())

    async def live_by_hash(self, key_hash: str, now: datetime) -> ApiKey | None:
        """The key with this hash, unless it is revoked or expired or its owner disabled."""
        row = (
            await self.session.execute(
                select(
                    api_keys.c.id,
                    api_keys.c.name,
                    api_keys.c.key_prefix,
                    api_keys.c.is_admin,
                    api_keys.c.user_id,
                )
                .join(users, users.c.id == api_keys.c.user_id)
                .where(
                    api_keys.c.key_hash == key_hash,
                    api_keys.c.revoked_at.is_(None),
                    or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
                    users.c.disabled_at.is_(None),
                )
            )
        ).first()
        return ApiKey(*row) if row else None

    async def listed(self, user_id: int | None = None) -> list[KeyRow]:
        """Every key (`user_id` None), or one user's, oldest first."""
        query = _key_rows()
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        return [KeyRow(*row) for row in await self.session.execute(query)]

    async def revoke(self, key_id: int, now: datetime, *, user_id: int | None = None) -> bool:
        """Revoke a live key (of `user_id`, when given); False when there is no such key."""
        query = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        result = await self.session.execute(query.values(revoked_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_used(self, key_id: int, now: datetime) -> None:
        await self.session.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now)
        )

    async def count(self) -> int:
        return int(
            (await self.session.execute(select(func.count()).select_from(api_keys))).scalar_one()
        )


def _key_rows() -> Select[Any]:
    return (
        select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.key_prefix,
            api_keys.c.is_admin,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
            api_keys.c.expires_at,
            api_keys.c.last_used_at,
            api_keys.c.user_id,
            users.c.email,
        )
        .join(users, users.c.id == api_keys.c.user_id)
        .order_by(api_keys.c.id)
    )
