"""`surge keys ...` and `surge users ...`: accounts from the command line (for scripts and for
the operator). Imported only when one of them runs."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

from surge.accounts.keys import KeyService, key_lifetime_problem, key_name_problem
from surge.accounts.user_repository import User
from surge.accounts.users import AccountError, UserService, normalize_email
from surge.cli_support import CliError, current_sessions
from surge.platform.config import Settings
from surge.platform.db import SessionMaker


async def run_accounts(settings: Settings, args: argparse.Namespace) -> str:
    try:
        async with current_sessions(settings) as sessions:
            if args.command == "keys":
                return await _keys(sessions, args)
            return await _users(sessions, args)
    except AccountError as exc:
        raise CliError(str(exc)) from exc


async def _keys(sessions: SessionMaker, args: argparse.Namespace) -> str:
    keys = KeyService(sessions)
    if args.keys_command == "create":
        name, days = args.name, args.expires_in_days
        if problem := key_name_problem(name):
            raise CliError(f"--name {problem}")
        if days is not None and (problem := key_lifetime_problem(days)):
            raise CliError(f"--expires-in-days {problem}")
        user_id = await _user_id(sessions, args.user) if args.user else None
        key = await keys.create(
            name.strip(),
            is_admin=args.admin,
            expires_in=timedelta(days=days) if days else None,
            user_id=user_id,
        )
        return key.secret
    if args.keys_command == "revoke":
        if not await keys.revoke(args.id):
            raise CliError(f"no live key with id {args.id}")
        return f"revoked key {args.id}"
    lines = [
        f"{'id':>6}  {'prefix':<10} {'admin':<5}  {'created (UTC)':<16}  {'last used':<16}  "
        f"{'expires':<16}  {'revoked':<16}  {'owner':<24}  name"
    ]
    for k in await keys.all():
        owner = k.owner_email or f"(user {k.user_id})"
        lines.append(
            f"{k.id:>6}  {k.key_prefix:<10} {'yes' if k.is_admin else 'no':<5}  "
            f"{_minute(k.created_at)}  {_minute(k.last_used_at)}  {_minute(k.expires_at)}  "
            f"{_minute(k.revoked_at)}  {owner:<24}  {k.name}"
        )
    return "\n".join(lines)


async def _users(sessions: SessionMaker, args: argparse.Namespace) -> str:
    users = UserService(sessions)
    command = args.users_command
    if command == "list":
        lines = [f"{'id':>6}  {'admin':<5}  {'disabled':<16}  email"]
        for u in await users.all():
            admin = "yes" if u.is_admin else "no"
            lines.append(f"{u.id:>6}  {admin:<5}  {_minute(u.disabled_at)}  {u.email}")
        return "\n".join(lines)
    if command in ("disable", "enable"):
        await users.set_disabled(await _user_id(sessions, args.email), command == "disable")
        return f"{command}d {normalize_email(args.email)}"
    password = _stdin_password() if args.password_stdin else None
    if command == "create":
        made = await users.create(args.email, password=password, is_admin=args.admin)
        shown = f"\npassword (shown once): {made.password}" if made.password else ""
        return f"created user {made.user.email} (id {made.user.id}){shown}"
    generated = await users.set_password(args.email, password)
    return f"new password (shown once): {generated}" if generated else "password set"


async def user_by_email(sessions: SessionMaker, email: str) -> User:
    """The user with this email; CliError for none, or for what is not an email."""
    try:
        user = await UserService(sessions).by_email(email)
    except AccountError as exc:
        raise CliError(str(exc)) from exc
    if user is None:
        raise CliError(f"no user {email}")
    return user


async def _user_id(sessions: SessionMaker, email: str) -> int:
    return (await user_by_email(sessions, email)).id


def _stdin_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password on stdin")
    return password


def _minute(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else f"{'-':<16}"
