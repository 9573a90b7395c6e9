"""`/api/v1/keys`: admin keys list, create and revoke keys; a revoked key stops at once."""

from __future__ import annotations

import pytest

from tests.conftest import Surge
from tests.helpers import assert_problem


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
