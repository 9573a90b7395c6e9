"""API keys: shown once, stored as a SHA-256 hash. Each public method is one unit of work."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from surge.api.keys.repository import ApiKey, KeyRepository, KeyRow, NewKeyRow
from surge.platform.db import SessionMaker, transaction

KEY_PREFIX = "sk_"


@dataclass(slots=True, frozen=True)
class NewKey:
    id: int
    name: str
    secret: str  # the only time the plain key exists


def hash_key(secret: str) -> str:
    # API keys are 256 random bits, so one fast hash is safe; a slow KDF would only add latency.
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyService:
    def __init__(self, sessions: SessionMaker) -> None:
        self.sessions = sessions

    async def create(self, name: str, *, is_admin: bool = False) -> NewKey:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = NewKeyRow(
            name=name,
            key_hash=hash_key(secret),
            key_prefix=secret[:8],
            is_admin=is_admin,
            created_at=datetime.now(UTC),
        )
        async with transaction(self.sessions) as session:
            key_id = await KeyRepository(session).add(row)
        return NewKey(id=key_id, name=name, secret=secret)

    async def create_admin_if_none(self) -> NewKey | None:
        """On first start with an empty database, make an admin key (printed once by the caller)."""
        async with self.sessions() as session:
            if await KeyRepository(session).count():
                return None
        return await self.create("admin", is_admin=True)

    async def all(self) -> list[KeyRow]:
        async with self.sessions() as session:
            return await KeyRepository(session).all()

    async def revoke(self, key_id: int) -> bool:
        """Every request authenticates against the database, so a revoked key stops working on
        every replica with the next request."""
        async with transaction(self.sessions) as session:
            return await KeyRepository(session).revoke(key_id, datetime.now(UTC))

    async def authenticate(self, secret: str) -> ApiKey | None:
        async with self.sessions() as session:
            return await KeyRepository(session).by_hash(hash_key(secret))
