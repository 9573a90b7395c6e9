"""Account rules: password hashing, sign-in, session expiry, disabled users, the first admin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from surge.accounts.bootstrap import create_first_admin
from surge.accounts.users import AccountError, UserService, hash_password, password_matches
from surge.dashboard.sessions import session_fresh
from surge.platform.db import SessionMaker
from tests.conftest import Surge, running_surge
from tests.helpers import make_settings


def test_passwords_are_stored_as_argon2_hashes() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "correct horse battery!")
    assert not password_matches(None, "anything at all")  # no password: cannot sign in
    assert hash_password("correct horse battery") != stored  # salted


def test_a_short_password_is_refused() -> None:
    with pytest.raises(AccountError, match="at least 10"):
        hash_password("short")


def test_sessions_expire() -> None:
    now = 1.8e9
    assert session_fresh(now - 60, ttl_s=3600, now=now)
    assert not session_fresh(now - 3601, ttl_s=3600, now=now)
    assert not session_fresh(now + 60, ttl_s=3600, now=now)  # from the future: forged
    assert not session_fresh("yesterday", ttl_s=3600, now=now)


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


async def _signed_in(surge: Surge, email: str, password: str) -> httpx.AsyncClient:
    client = surge.client
    form = await client.get("/app/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = await client.post(
        "/app/sign-in", data={"email": email, "password": password, "csrf": csrf.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


async def test_a_disabled_users_session_and_keys_stop_working(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        assert surge.api.keys is not None
        made = await surge.api.users.create("eve@example.com", password="a long password")
        key = await surge.api.keys.create("eve's", user_id=made.user.id)
        headers = {"Authorization": f"Bearer {key.secret}"}
        client = await _signed_in(surge, "eve@example.com", "a long password")
        assert (await client.get("/app/links")).status_code == 200
        assert (await client.get("/api/v1/links", headers=headers)).status_code == 200
        await surge.api.users.set_disabled(made.user.id, True)
        page = await client.get("/app/links")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/app/sign-in")
        assert (await client.get("/api/v1/links", headers=headers)).status_code == 401


async def test_sign_in_attempts_are_limited_per_email(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_sign_in="3/minute")
    async with running_surge(settings) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("kim@example.com", password="a long password")
        for _ in range(3):
            client = surge.client
            form = await client.get("/app/sign-in")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            wrong = {"email": "kim@example.com", "password": "guess", "csrf": csrf.group(1)}
            assert (await client.post("/app/sign-in", data=wrong)).status_code == 401
        right = {"email": "kim@example.com", "password": "a long password", "csrf": csrf.group(1)}
        assert (await surge.client.post("/app/sign-in", data=right)).status_code == 429
