"""Who owns what `surge import` brings and whose links `surge export` writes: the user
`--owner EMAIL` names, or (for an import without it) the first admin; one clear line if none."""

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


async def first_admin(sessions: SessionMaker) -> User:
    user = await UserService(sessions).first_admin()
    if user is None:
        raise CliError(
            "no admin user to own the links: pass --owner EMAIL, or create one with "
            "`surge users create --email EMAIL --admin`"
        )
    return user
