"""API keys: shown once, stored as a SHA-256 hash. Each public method is one unit of work."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from surge.accounts.key_repository import ApiKey, KeyRepository, KeyRow, NewKeyRow
from surge.accounts.user_repository import UserRepository
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction

KEY_PREFIX = "sk_"
PREFIX_LENGTH = 8  # "sk_" and five characters of the secret: how lists and logs name a key
# A key's last use is written at most this often per process: an API call costs no write.
LAST_USED_EVERY_S = 60.0

# What a key may be called and how long it may live: one rule for the API, the dashboard and
# the CLI. Printable and not blank (a control character has no place in a name, and PostgreSQL
# refuses NUL in text).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN)]
KeyLifetimeDays = Annotated[int, Field(ge=1, le=3650)]
KEY_NAME_RULE = "1 to 100 printable characters"
KEY_LIFETIME_RULE = "1 to 3650"


def key_name_problem(name: str) -> str | None:
    """What is wrong with `name` as a key's name, or None."""
    return _problem(_NAME, name, KEY_NAME_RULE)


def key_lifetime_problem(days: int) -> str | None:
    """What is wrong with `days` as a key's lifetime, or None."""
    return _problem(_DAYS, days, KEY_LIFETIME_RULE)


def _problem(adapter: TypeAdapter[object], value: object, rule: str) -> str | None:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return f"must be {rule}"
    return None


_NAME: TypeAdapter[object] = TypeAdapter(KeyName)
_DAYS: TypeAdapter[object] = TypeAdapter(KeyLifetimeDays)


@dataclass(slots=True, frozen=True)
class NewKey:
    id: int
    user_id: int
    name: str
    prefix: str
    expires_at: datetime | None
    secret: str  # the only time the plain key exists


def hash_key(secret: str) -> str:
    # API keys are 256 random bits, so one fast hash is safe; a slow KDF would only add latency.
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyService:
    def __init__(self, sessions: SessionMaker) -> None:
        self.sessions = sessions
        self._used_at: dict[int, float] = {}  # key id -> when this process last wrote it

    async def create(
        self,
        name: str,
        *,
        is_admin: bool = False,
        expires_in: timedelta | None = None,
        user_id: int | None = None,
    ) -> NewKey:
        """A key of user `user_id`; without one, of a new owner of its own (a user who cannot
        sign in), so that keys made apart cannot see each other's links."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        async with transaction(self.sessions) as session:
            if user_id is None:
                user_id = await UserRepository(session).add(None, None, is_admin=is_admin, now=now)
            row = NewKeyRow(
                user_id=user_id,
                name=name,
                key_hash=hash_key(secret),
                key_prefix=secret[:PREFIX_LENGTH],
                is_admin=is_admin,
                created_at=now,
                expires_at=now + expires_in if expires_in else None,
            )
            key_id = await KeyRepository(session).add(row)
        return NewKey(key_id, user_id, name, row.key_prefix, row.expires_at, secret)

    async def all(self, user_id: int | None = None) -> list[KeyRow]:
        """Every key, or the keys of `user_id`."""
        async with self.sessions() as session:
            return await KeyRepository(session).listed(user_id)

    async def revoke(self, key_id: int, *, user_id: int | None = None) -> bool:
        """Every request authenticates against the database, so a revoked key stops working on
        every replica with its next request. With `user_id`, only that user's key."""
        async with transaction(self.sessions) as session:
            return await KeyRepository(session).revoke(key_id, utc_now(), user_id=user_id)

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The live key for this secret (not revoked, not expired), its use noted."""
        now = utc_now()
        async with self.sessions() as session:
            key = await KeyRepository(session).live_by_hash(hash_key(secret), now)
        if key is not None:
            await self._note_use(key.id, now)
        return key

    async def _note_use(self, key_id: int, now: datetime) -> None:
        tick = time.monotonic()
        last = self._used_at.get(key_id)
        if last is not None and tick - last < LAST_USED_EVERY_S:
            return
        self._used_at[key_id] = tick
        async with transaction(self.sessions) as session:
            await KeyRepository(session).mark_used(key_id, now)
