"""Accounts in the dashboard: sessions expire; a disabled user's session and keys stop working;
sign-in attempts are limited."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from surge.dashboard.sessions import session_fresh
from tests.conftest import Surge, running_surge
from tests.helpers import make_settings


def test_sessions_expire() -> None:
    now = 1.8e9
    assert session_fresh(now - 60, ttl_s=3600, now=now)
    assert not session_fresh(now - 3601, ttl_s=3600, now=now)
    assert not session_fresh(now + 60, ttl_s=3600, now=now)  # from the future: forged
    assert not session_fresh("yesterday", ttl_s=3600, now=now)


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
