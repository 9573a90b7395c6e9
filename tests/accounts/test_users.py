"""Account rules: password hashing, sign-in, disabled users, the first admin."""

from __future__ import annotations

import pytest
from argon2 import profiles as argon2_profiles

from surge.accounts.bootstrap import create_first_admin
from surge.accounts.users import AccountError, UserService, hash_password, password_matches
from surge.platform.db import SessionMaker
from tests.conftest import SERVED_PASSWORD_HASHER


def test_passwords_are_stored_as_argon2_hashes() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "correct horse battery!")
    assert not password_matches(None, "anything at all")  # no password: cannot sign in
    assert hash_password("correct horse battery") != stored  # salted


def test_served_hashes_cost_what_argon2_recommends() -> None:
    """The suite hashes cheaply in-process (tests/conftest.py); what Surge serves with is
    argon2-cffi's default, RFC 9106's second recommendation (64 MiB, 3 passes)."""
    served, recommended = SERVED_PASSWORD_HASHER, argon2_profiles.RFC_9106_LOW_MEMORY
    assert (served.memory_cost, served.time_cost, served.parallelism) == (
        recommended.memory_cost,
        recommended.time_cost,
        recommended.parallelism,
    )
    assert served.type is recommended.type


def test_a_short_password_is_refused() -> None:
    with pytest.raises(AccountError, match="at least 10"):
        hash_password("short")


async def test_sign_in_and_disabled_users(sessions: SessionMaker) -> None:
    users = UserService(sessions)
    made = await users.create(" Ada@Example.com ", password="a long password")
    assert made.password is None  # given, not generated
    assert made.user.email == "ada@example.com"
    assert await users.sign_in("ADA@example.com", "a long password") is not None
    assert await users.sign_in("ada@example.com", "a wrong password") is None
    assert await users.sign_in("nobody@example.com", "a long password") is None
    with pytest.raises(AccountError, match="already"):
        await users.create("ada@example.com")
    await users.set_disabled(made.user.id, True)
    assert await users.sign_in("ada@example.com", "a long password") is None
    generated = (await users.create("bob@example.com")).password
    assert generated is not None
    assert len(generated) >= 10
    assert await users.sign_in("bob@example.com", generated) is not None


async def test_the_first_start_makes_one_admin(sessions: SessionMaker) -> None:
    first = await create_first_admin(sessions, "root@example.com")
    assert first is not None
    assert first.key.startswith("sk_")
    assert await UserService(sessions).sign_in("root@example.com", first.password) is not None
    assert await create_first_admin(sessions, "root@example.com") is None  # only once
