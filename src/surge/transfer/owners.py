"""`--owner EMAIL` of `surge import` and `surge export`: the user it names, or one clear line."""

from __future__ import annotations

from surge.accounts.user_repository import User
from surge.accounts.users import AccountError, UserService
from surge.cli_support import CliError
from surge.platform.db import SessionMaker


async def owner_named(sessions: SessionMaker, email: str) -> User:
    try:
        user = await UserService(sessions).by_email(email)
    except AccountError as exc:
        raise CliError(f"--owner: {exc}") from exc
    if user is None:
        raise CliError(f"--owner: no user {email} (see `surge users list`)")
    return user
