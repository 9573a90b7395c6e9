"""The first start on an empty database: an admin user with a generated password, and an admin
API key of theirs, printed once."""

from __future__ import annotations

from dataclasses import dataclass

from surge.accounts.keys import KeyService
from surge.accounts.users import AccountError, UserService
from surge.platform.db import SessionMaker


@dataclass(slots=True, frozen=True)
class FirstAdmin:
    email: str
    password: str
    key: str


async def create_first_admin(sessions: SessionMaker, email: str) -> FirstAdmin | None:
    """None when there are users already (or another replica just made the first one)."""
    users = UserService(sessions)
    if await users.count():
        return None
    try:
        made = await users.create(email, is_admin=True)
    except AccountError:  # the same email, made by a replica starting at the same time
        return None
    key = await KeyService(sessions).create("admin", is_admin=True, user_id=made.user.id)
    assert made.password is not None
    assert made.user.email is not None
    return FirstAdmin(made.user.email, made.password, key.secret)


def first_admin_banner(admin: FirstAdmin, public_url: str) -> str:
    return (
        "\n  Surge created its first admin (shown once, keep it safe):\n\n"
        f"    dashboard  {public_url}/app/\n"
        f"    email      {admin.email}\n"
        f"    password   {admin.password}\n"
        f"    API key    {admin.key}\n"
    )
