"""Dashboard pages in-process: edit, delete with confirmation, keys, admin users, errors."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine

from surge.domains.repository import DomainRedirects
from tests.conftest import Surge, running_surge
from tests.helpers import DASHBOARD_PASSWORD, dashboard_sign_in, make_settings


async def test_create_edit_and_delete_a_link(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    form = {"csrf": csrf, "url": "https://example.com/a", "slug": "edit-me", "tags": "one two"}
    made = await surge.client.post("/app/links/new", data={**form, "max_clicks": "5"})
    assert made.status_code == 303
    assert made.headers["location"] == "/app/links/edit-me"
    bad = await surge.client.post("/app/links/new", data={**form, "slug": "x y"})
    assert bad.status_code == 422
    assert "slug" in bad.text  # the form again, saying what is wrong

    edit = await surge.client.get("/app/links/edit-me/edit")
    assert 'value="one two"' in edit.text
    changed = await surge.client.post(
        "/app/links/edit-me/edit",
        data={"csrf": csrf, "url": "https://example.com/b", "tags": "three", "max_clicks": ""},
    )
    assert changed.status_code == 303
    redirect = await surge.client.get("/edit-me")
    assert redirect.headers["location"] == "https://example.com/b"
    page = await surge.client.get("/app/links/edit-me")
    assert "three" in page.text
    assert "at most" not in page.text  # the click limit was cleared

    confirm = await surge.client.get("/app/links/edit-me/delete")
    assert "Delete" in confirm.text
    deleted = await surge.client.post("/app/links/edit-me/delete", data={"csrf": csrf})
    assert deleted.status_code == 303
    assert (await surge.client.get("/edit-me")).status_code == 404
    gone = await surge.client.get("/app/links/edit-me")
    assert gone.status_code == 404
    assert "text/html" in gone.headers["content-type"]


async def test_a_links_options_are_set_and_changed_through_the_form(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    made = await surge.client.post(
        "/app/links/new",
        data={
            "csrf": csrf,
            "url": "https://example.com/opt",
            "slug": "opt",
            "title": "Spring launch",
            "password": "open sesame",
            "crawlable": "on",  # forward_query left unticked
            "valid_since": "2020-01-01T09:30",
        },
    )
    assert made.status_code == 303
    link = await surge.links.get(None, "opt")
    assert link.values.title == "Spring launch"
    assert link.values.password_hash is not None
    assert link.values.password_hash != "open sesame"  # stored as a hash
    assert link.values.crawlable is True
    assert link.values.forward_query is False
    assert link.values.valid_since == datetime.fromisoformat("2020-01-01T09:30:00+00:00")
    page = await surge.client.get("/app/links/opt")
    assert 'id="password-protected"' in page.text
    assert "Spring launch" in page.text
    assert "query not forwarded" in page.text
    new_form = await surge.client.get("/app/links/new")
    assert 'name="forward_query" checked' in new_form.text  # on unless unticked, as the API

    edit = await surge.client.get("/app/links/opt/edit")
    assert "New password (leave empty to keep the current one)" in edit.text
    kept = {"csrf": csrf, "url": "https://example.com/opt", "forward_query": "on"}
    assert (await surge.client.post("/app/links/opt/edit", data=kept)).status_code == 303
    link = await surge.links.get(None, "opt")
    assert link.values.password_hash is not None  # an empty password field keeps it
    assert link.values.forward_query is True
    assert link.values.crawlable is False
    assert link.values.title is None
    removed = {**kept, "remove_password": "on"}
    assert (await surge.client.post("/app/links/opt/edit", data=removed)).status_code == 303
    assert (await surge.links.get(None, "opt")).values.password_hash is None


async def test_keys_are_made_shown_once_listed_by_prefix_and_revoked(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    made = await surge.client.post("/app/keys", data={"csrf": csrf, "name": "ci"})
    assert made.status_code == 201
    secret = re.search(r'id="new-key">(sk_[^<]+)<', made.text)
    assert secret is not None
    key = {"Authorization": f"Bearer {secret.group(1)}"}
    assert (await surge.client.get("/api/v1/links", headers=key)).status_code == 200
    listed = await surge.client.get("/app/keys")
    assert secret.group(1) not in listed.text
    assert secret.group(1)[:8] in listed.text
    key_id = re.search(r'action="/app/keys/(\d+)/revoke"', listed.text)
    assert key_id is not None
    revoked = await surge.client.post(f"/app/keys/{key_id.group(1)}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert (await surge.client.get("/api/v1/links", headers=key)).status_code == 401


async def test_admins_create_and_disable_users(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    made = await surge.client.post("/app/admin/users", data={"csrf": csrf, "email": "x@e.com"})
    assert made.status_code == 201
    assert re.search(r'id="new-password">[^<]{10,}<', made.text)
    again = await surge.client.post("/app/admin/users", data={"csrf": csrf, "email": "x@e.com"})
    assert again.status_code == 422
    assert surge.api.users is not None
    user = next(u for u in await surge.api.users.all() if u.email == "x@e.com")
    off = await surge.client.post(f"/app/admin/users/{user.id}/disable", data={"csrf": csrf})
    assert off.status_code == 303
    assert (await surge.api.users.get(user.id)).disabled_at is not None  # type: ignore[union-attr]


async def test_users_pages_are_for_admins_only(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("plain@example.com", password=DASHBOARD_PASSWORD)
        await dashboard_sign_in(surge.client, "plain@example.com")
        answer = await surge.client.get("/app/admin/users")
        assert answer.status_code == 403
        assert "Admins only" in answer.text


async def test_every_page_asks_to_sign_in_first(surge: Surge) -> None:
    for path in ("/app/links", "/app/links/new", "/app/keys", "/app/links/x", "/app/admin/users"):
        answer = await surge.client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/app/sign-in?next={path}"
    page = await surge.client.get("/app/sign-in")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    posted = await surge.client.post("/app/keys", data={"name": "x"})  # no session, no token
    assert posted.status_code == 403


@pytest.mark.calendar
async def test_a_session_ends_when_its_time_is_up(tmp_path: Path, now: datetime) -> None:
    async with running_surge(make_settings(tmp_path, session_ttl_hours=12)) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("ada@example.com", password=DASHBOARD_PASSWORD)
        await dashboard_sign_in(surge.client, "ada@example.com")
        with time_machine.travel(now + timedelta(hours=11, minutes=59)):
            assert (await surge.client.get("/app/links")).status_code == 200
        with time_machine.travel(now + timedelta(hours=12, minutes=1)):
            ended = await surge.client.get("/app/links")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/app/sign-in")


async def test_a_link_page_says_when_its_stats_are_unavailable(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    form = {"csrf": csrf, "url": "https://example.com/a", "slug": "away"}
    assert (await surge.client.post("/app/links/new", data=form)).status_code == 303

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("analytics is down", request=request)

    surge.links.analytics.client._transport = httpx.MockTransport(unreachable)
    page = await surge.client.get("/app/links/away")
    assert page.status_code == 200  # the link, its QR code and its settings are still there
    assert 'id="stats-unavailable"' in page.text
    assert "Stats are unavailable right now" in page.text
    assert 'id="total-clicks"' not in page.text


async def test_links_on_another_domain_are_made_shown_and_changed_there(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    assert surge.api.domains is not None
    new_form = await surge.client.get("/app/links/new")
    assert 'id="domain"' not in new_form.text  # one domain: nothing to choose
    await surge.api.domains.add("go.example.com", DomainRedirects())
    new_form = await surge.client.get("/app/links/new")
    assert '<option value="go.example.com"' in new_form.text
    form = {"csrf": csrf, "url": "https://example.com/go", "slug": "twin"}
    made = await surge.client.post("/app/links/new", data={**form, "domain": "go.example.com"})
    assert made.headers["location"] == "/app/links/twin?domain=go.example.com"
    home = await surge.client.post("/app/links/new", data={**form, "url": "https://e.com/home"})
    assert home.headers["location"] == "/app/links/twin"

    listed = await surge.client.get("/app/links")
    assert 'href="/app/links/twin?domain=go.example.com"' in listed.text
    page = await surge.client.get("/app/links/twin?domain=go.example.com")
    assert "http://go.example.com/twin" in page.text
    assert 'href="/app/links/twin/edit?domain=go.example.com"' in page.text
    assert (
        await surge.client.get("/app/links/twin/qr.svg?domain=go.example.com")
    ).status_code == 200
    changed = await surge.client.post(
        "/app/links/twin/edit?domain=go.example.com",
        data={"csrf": csrf, "url": "https://example.com/went", "tags": ""},
    )
    assert changed.headers["location"] == "/app/links/twin?domain=go.example.com"
    assert "https://e.com/home" in (await surge.client.get("/app/links/twin")).text
    gone = await surge.client.post(
        "/app/links/twin/delete?domain=go.example.com", data={"csrf": csrf}
    )
    assert gone.status_code == 303
    assert (await surge.client.get("/app/links/twin")).status_code == 200  # the other stays
