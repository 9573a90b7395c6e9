"""API keys: shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from surge.links.repository import ApiKey, KeyRepository
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


async def create_key(sessions: SessionMaker, name: str, *, is_admin: bool = False) -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    async with transaction(sessions) as session:
        key_id = await KeyRepository(session).add(
            name, hash_key(secret), secret[:8], is_admin=is_admin, now=datetime.now(UTC)
        )
    return NewKey(id=key_id, name=name, secret=secret)


async def create_admin_key_if_none(sessions: SessionMaker) -> NewKey | None:
    """On first start with an empty database, make an admin key (printed once by the caller)."""
    async with transaction(sessions) as session:
        if await KeyRepository(session).count():
            return None
    return await create_key(sessions, "admin", is_admin=True)


async def authenticate(sessions: SessionMaker, secret: str) -> ApiKey | None:
    async with sessions() as session:
        return await KeyRepository(session).by_hash(hash_key(secret))
