"""All SQL of users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import users


def owner_scope(user_id: int, is_admin: bool) -> int | None:
    """Whose links an account (a user, or a key acting as its user) sees and changes: its own;
    an admin's, everyone's (None: no owner filter)."""
    return None if is_admin else user_id


@dataclass(slots=True, frozen=True)
class User:
    id: int
    email: str | None
    password_hash: str | None
    is_admin: bool
    created_at: datetime
    disabled_at: datetime | None

    @property
    def owner_scope(self) -> int | None:
        return owner_scope(self.id, self.is_admin)

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, email: str | None, password_hash: str | None, *, is_admin: bool, now: datetime
    ) -> int:
        result = await self.session.execute(
            insert(users)
            .values(email=email, password_hash=password_hash, is_admin=is_admin, created_at=now)
            .returning(users.c.id)
        )
        return int(result.scalar_one())

    async def by_id(self, user_id: int) -> User | None:
        row = (await self.session.execute(select(users).where(users.c.id == user_id))).first()
        return User(*row) if row else None

    async def by_email(self, email: str) -> User | None:
        row = (await self.session.execute(select(users).where(users.c.email == email))).first()
        return User(*row) if row else None

    async def with_email(self) -> list[User]:
        """The users who can sign in (key-only owners have no email), in creation order."""
        rows = await self.session.execute(
            select(users).where(users.c.email.is_not(None)).order_by(users.c.id)
        )
        return [User(*row) for row in rows]

    async def first_admin(self) -> User | None:
        """The first active admin who can sign in (the one `make run` printed, usually)."""
        row = (
            await self.session.execute(
                select(users)
                .where(
                    users.c.is_admin.is_(True),
                    users.c.email.is_not(None),
                    users.c.disabled_at.is_(None),
                )
                .order_by(users.c.id)
                .limit(1)
            )
        ).first()
        return User(*row) if row else None

    async def set_password(self, user_id: int, password_hash: str) -> None:
        await self.session.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def set_disabled(self, user_id: int, at: datetime | None) -> bool:
        result = await self.session.execute(
            update(users).where(users.c.id == user_id).values(disabled_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def count(self) -> int:
        return int(
            (await self.session.execute(select(func.count()).select_from(users))).scalar_one()
        )
