"""Users: who signs in to the dashboard and owns keys and links. Passwords are argon2 hashes
(surge.platform.passwords); a generated password is shown once. Each public method is one unit
of work."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from surge.accounts.user_repository import User, UserRepository
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction
from surge.platform.passwords import argon2_hash, argon2_matches

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A rule of accounts was broken; the message says which, to the person who broke it."""


@dataclass(slots=True, frozen=True)
class NewUser:
    user: User
    password: str | None  # the generated one, the only time it exists in plain text


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or len(email) > 254 or not email.isprintable():
        raise AccountError("an email looks like name@example.com")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return argon2_hash(check_password(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    """A wrong email costs as long as a wrong password (an argon2 check either way)."""
    return argon2_matches(password_hash, password)


class UserService:
    def __init__(self, sessions: SessionMaker) -> None:
        self.sessions = sessions

    async def create(
        self, email: str, *, password: str | None = None, is_admin: bool = False
    ) -> NewUser:
        """A user who can sign in; without `password` one is generated (and returned once)."""
        email = normalize_email(email)
        generated = None if password else secrets.token_urlsafe(12)
        password_hash = hash_password(password or generated or "")
        async with transaction(self.sessions) as session:
            repo = UserRepository(session)
            if await repo.by_email(email) is not None:
                raise AccountError(f"there is already a user {email}")
            user_id = await repo.add(email, password_hash, is_admin=is_admin, now=utc_now())
            user = await repo.by_id(user_id)
        assert user is not None
        return NewUser(user, generated)

    async def sign_in(self, email: str, password: str) -> User | None:
        """The active user with this email and password, or None (whichever was wrong)."""
        try:
            email = normalize_email(email)
        except AccountError:
            return None
        async with self.sessions() as session:
            user = await UserRepository(session).by_email(email)
        if user is None:
            password_matches(None, password)  # the same time as a wrong password
            return None
        if not password_matches(user.password_hash, password) or not user.active:
            return None
        return user

    async def get(self, user_id: int) -> User | None:
        async with self.sessions() as session:
            return await UserRepository(session).by_id(user_id)

    async def by_email(self, email: str) -> User | None:
        """The user with this email (in any case, spaces around it ignored); AccountError for
        what is not an email."""
        address = normalize_email(email)
        async with self.sessions() as session:
            return await UserRepository(session).by_email(address)

    async def first_admin(self) -> User | None:
        async with self.sessions() as session:
            return await UserRepository(session).first_admin()

    async def all(self) -> list[User]:
        async with self.sessions() as session:
            return await UserRepository(session).with_email()

    async def set_password(self, email: str, password: str | None = None) -> str | None:
        """Set (or generate, and return once) the password of the user with this email."""
        generated = None if password else secrets.token_urlsafe(12)
        password_hash = hash_password(password or generated or "")
        async with transaction(self.sessions) as session:
            repo = UserRepository(session)
            user = await repo.by_email(normalize_email(email))
            if user is None:
                raise AccountError(f"no user {email}")
            await repo.set_password(user.id, password_hash)
        return generated

    async def set_disabled(self, user_id: int, disabled: bool) -> bool:
        """A disabled user cannot sign in, and their sessions and keys stop working."""
        async with transaction(self.sessions) as session:
            at = utc_now() if disabled else None
            return await UserRepository(session).set_disabled(user_id, at)

    async def count(self) -> int:
        async with self.sessions() as session:
            return await UserRepository(session).count()
