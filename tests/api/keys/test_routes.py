"""`/api/v1/keys`: admin keys list, create and revoke keys; a revoked key stops at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Surge, running_surge
from tests.helpers import assert_problem, make_settings


async def admin_headers(surge: Surge) -> dict[str, str]:
    assert surge.api.keys is not None
    key = await surge.api.keys.create("root", is_admin=True)
    return {"Authorization": f"Bearer {key.secret}"}


async def test_an_admin_creates_lists_and_revokes_keys(surge: Surge) -> None:
    admin = await admin_headers(surge)
    created = await surge.client.post("/api/v1/keys", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201
    secret, key_id = created.json()["key"], created.json()["id"]
    ci = {"Authorization": f"Bearer {secret}"}
    assert (await surge.client.get("/api/v1/links", headers=ci)).status_code == 200

    listed = (await surge.client.get("/api/v1/keys", headers=admin)).json()
    mine = next(k for k in listed if k["id"] == key_id)
    assert mine["name"] == "ci"
    assert mine["prefix"] == secret[:8]
    assert mine["admin"] is False
    assert mine["revoked_at"] is None
    assert all(secret not in str(k) for k in listed)  # never the secret again

    assert (await surge.client.delete(f"/api/v1/keys/{key_id}", headers=admin)).status_code == 204
    refused = await surge.client.get("/api/v1/links", headers=ci)
    assert_problem(refused, 401, "unauthorized")
    again = await surge.client.delete(f"/api/v1/keys/{key_id}", headers=admin)
    assert_problem(again, 404, "not-found")
    listed = (await surge.client.get("/api/v1/keys", headers=admin)).json()
    assert next(k for k in listed if k["id"] == key_id)["revoked_at"] is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/keys"), ("POST", "/api/v1/keys"), ("DELETE", "/api/v1/keys/1")],
)
async def test_only_admin_keys_manage_keys(surge: Surge, method: str, path: str) -> None:
    body = {"name": "x"} if method == "POST" else None
    plain = await surge.new_key()
    answer = await surge.client.request(method, path, json=body, headers=plain)
    assert_problem(answer, 403, "forbidden")
    anonymous = await surge.client.request(method, path, json=body)
    assert_problem(anonymous, 401, "unauthorized")


@pytest.mark.calendar
async def test_a_key_can_expire_and_shows_its_last_use(surge: Surge, now: datetime) -> None:
    admin = await admin_headers(surge)
    created = await surge.client.post(
        "/api/v1/keys", json={"name": "temp", "expires_in_days": 30}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["prefix"] == body["key"][:8]
    expires = datetime.fromisoformat(body["expires_at"])
    assert now + timedelta(days=30) <= expires < now + timedelta(days=30, minutes=1)
    temp = {"Authorization": f"Bearer {body['key']}"}
    listed = {k["id"]: k for k in (await surge.client.get("/api/v1/keys", headers=admin)).json()}
    assert listed[body["id"]]["last_used_at"] is None
    assert (await surge.client.get("/api/v1/links", headers=temp)).status_code == 200
    listed = {k["id"]: k for k in (await surge.client.get("/api/v1/keys", headers=admin)).json()}
    assert listed[body["id"]]["last_used_at"] is not None
    assert listed[body["id"]]["expires_at"] == body["expires_at"]


async def test_an_expired_key_stops_working(surge: Surge) -> None:
    assert surge.api.keys is not None
    expired = await surge.api.keys.create("old", expires_in=timedelta(seconds=-1))
    answer = await surge.client.get(
        "/api/v1/links", headers={"Authorization": f"Bearer {expired.secret}"}
    )
    assert_problem(answer, 401, "unauthorized")


async def test_a_key_cannot_revoke_itself(surge: Surge) -> None:
    assert surge.api.keys is not None
    root = await surge.api.keys.create("root", is_admin=True)
    headers = {"Authorization": f"Bearer {root.secret}"}
    answer = await surge.client.delete(f"/api/v1/keys/{root.id}", headers=headers)
    assert_problem(answer, 409, "key-in-use")
    assert (await surge.client.get("/api/v1/keys", headers=headers)).status_code == 200


async def test_an_admin_key_sees_and_manages_every_owners_links(surge: Surge) -> None:
    admin = await admin_headers(surge)
    alice, bob = await surge.new_key("alice"), await surge.new_key("bob")
    for owner, slug in ((alice, "of-alice"), (bob, "of-bob")):
        made = await surge.client.post(
            "/api/v1/links", json={"url": "https://e.com", "slug": slug}, headers=owner
        )
        assert made.status_code == 201
    listed = (await surge.client.get("/api/v1/links", headers=admin)).json()["items"]
    assert {link["slug"] for link in listed} == {"of-alice", "of-bob"}
    assert (await surge.client.get("/api/v1/links/of-bob", headers=admin)).status_code == 200
    assert (await surge.client.delete("/api/v1/links/of-bob", headers=admin)).status_code == 204
    # Alice still sees only her own.
    mine = (await surge.client.get("/api/v1/links", headers=alice)).json()["items"]
    assert [link["slug"] for link in mine] == ["of-alice"]


async def test_a_key_revoked_on_one_replica_fails_on_another_at_once(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, **backend)
    async with running_surge(settings) as one, running_surge(settings) as two:
        admin = await admin_headers(one)
        victim = await one.new_key("leaked")
        assert (await two.client.get("/api/v1/links", headers=victim)).status_code == 200
        key_id = next(
            k["id"]
            for k in (await one.client.get("/api/v1/keys", headers=admin)).json()
            if k["name"] == "leaked"
        )
        assert (await one.client.delete(f"/api/v1/keys/{key_id}", headers=admin)).status_code == 204
        # Every request authenticates against the database: the very next one fails.
        assert_problem(await two.client.get("/api/v1/links", headers=victim), 401, "unauthorized")
