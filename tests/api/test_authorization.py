"""Who may call what: every public API route against no key, a wrong key, a revoked key,
another owner's key and an admin key. The routes come from the OpenAPI description, so a new
route without a row here fails this test."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from surge.data.tables import webhook_outbox
from tests.conftest import Surge

LINKS = "/api/v1/links"
# (method, path template) -> expected status per credential
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("post", "/api/v1/links"): {"other": 201, "admin": 201},
    ("get", "/api/v1/links"): {"other": 200, "admin": 200},
    ("get", "/api/v1/links/{slug}"): {"other": 404, "admin": 200},
    ("patch", "/api/v1/links/{slug}"): {"other": 404, "admin": 200},
    ("get", "/api/v1/links/{slug}/stats"): {"other": 404, "admin": 200},
    ("get", "/api/v1/links/{slug}/visits"): {"other": 404, "admin": 200},
    ("delete", "/api/v1/links/{slug}/visits"): {"other": 404, "admin": 200},
    # Batches answer 200 with each item's own outcome: "owned" is a 404 item for another user.
    ("post", "/api/v1/links/bulk"): {"other": 200, "admin": 200},
    ("post", "/api/v1/links/bulk/tags"): {"other": 200, "admin": 200},
    ("get", "/api/v1/overview"): {"other": 200, "admin": 200},  # each its own links
    # The owner's tag "seen" (set by the PATCH above), renamed to itself, then removed.
    ("patch", "/api/v1/tags/{tag}"): {"other": 404, "admin": 204},
    ("delete", "/api/v1/tags/{tag}"): {"other": 404, "admin": 204},
    ("delete", "/api/v1/links/{slug}"): {"other": 404, "admin": 204},  # after the others
    ("post", "/api/v1/links/bulk/delete"): {"other": 200, "admin": 200},  # "owned" is gone
    ("get", "/api/v1/keys"): {"other": 403, "admin": 200},
    ("post", "/api/v1/keys"): {"other": 403, "admin": 201},
    ("delete", "/api/v1/keys/{key_id}"): {"other": 403, "admin": 204},
    ("get", "/api/v1/domains"): {"other": 200, "admin": 200},
    ("post", "/api/v1/domains"): {"other": 403, "admin": 201},
    ("patch", "/api/v1/domains/{host}"): {"other": 403, "admin": 200},
    ("delete", "/api/v1/domains/{host}"): {"other": 403, "admin": 204},
    ("get", "/api/v1/orphan-visits"): {"other": 403, "admin": 200},
    ("get", "/api/v1/orphan-visits/visits"): {"other": 403, "admin": 200},
    ("delete", "/api/v1/orphan-visits"): {"other": 403, "admin": 200},
    # The owner's webhook, made before its link "owned": that link's creation is its event.
    ("post", "/api/v1/webhooks"): {"other": 201, "admin": 201},
    ("get", "/api/v1/webhooks"): {"other": 200, "admin": 200},  # each their own
    ("get", "/api/v1/webhooks/{webhook_id}"): {"other": 404, "admin": 200},
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): {"other": 404, "admin": 200},
    ("post", "/api/v1/webhooks/{webhook_id}/enable"): {"other": 404, "admin": 200},
    ("post", "/api/v1/webhooks/{webhook_id}/deliveries/{event_id}/resend"): {
        "other": 404,
        "admin": 202,
    },
    ("delete", "/api/v1/webhooks/{webhook_id}"): {"other": 404, "admin": 204},
}
WEBHOOK = {"url": "https://hooks.example.com/in", "events": ["link.created"]}
BATCHES = {
    "/api/v1/links/bulk": {"links": [{"url": "https://e.com"}]},
    "/api/v1/links/bulk/tags": {"slugs": ["owned"], "add": ["batch"]},
    "/api/v1/links/bulk/delete": {"slugs": ["owned"]},
}
CREDENTIALS = ["none", "wrong", "revoked", "other", "admin"]


@pytest.mark.parametrize("credential", CREDENTIALS)
async def test_every_route_answers_each_credential_as_it_should(
    surge: Surge, credential: str
) -> None:
    spec = (await surge.client.get("/openapi.json")).json()
    routes = {(m, p) for p, item in spec["paths"].items() if p.startswith("/api/") for m in item}
    assert routes == set(MATRIX), "a public route has no row in the authorization matrix"

    assert surge.api.keys is not None
    owner = await surge.new_key("owner")
    revoked = await surge.api.keys.create("revoked")
    await surge.api.keys.revoke(revoked.id)
    admin = await surge.api.keys.create("admin", is_admin=True)
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer sk_not-a-key"},
        "revoked": {"Authorization": f"Bearer {revoked.secret}"},
        "other": await surge.new_key("other"),
        "admin": {"Authorization": f"Bearer {admin.secret}"},
    }[credential]
    hook = await surge.client.post("/api/v1/webhooks", json=WEBHOOK, headers=owner)
    assert hook.status_code == 201, hook.text
    made = await surge.client.post(
        LINKS, json={"url": "https://e.com", "slug": "owned"}, headers=owner
    )
    assert made.status_code == 201
    spare = await surge.api.keys.create("spare")
    assert surge.api.data is not None
    async with surge.api.data.sessions() as session:
        event_id = (await session.execute(select(webhook_outbox.c.event_id))).scalar_one()

    for (method, template), expected in MATRIX.items():
        path = template.format(
            slug="owned",
            key_id=spare.id,
            host="go.example.com",
            tag="seen",
            webhook_id=hook.json()["id"],
            event_id=event_id,
        )
        body: object = None
        if template in BATCHES:
            body = BATCHES[template]
        elif method == "post":
            body = {
                "keys": {"name": "new"},
                "links": {"url": "https://e.com"},
                "domains": {"host": "go.example.com"},
                "webhooks": WEBHOOK,
            }[template.split("/")[3]]
        elif method == "patch":
            body = {"domains": {}, "tags": {"name": "seen"}}.get(
                template.split("/")[3], {"tags": ["seen"]}
            )
        answer = await surge.client.request(method.upper(), path, json=body, headers=headers)
        want = expected.get(credential, 401)
        assert answer.status_code == want, (credential, method, template, answer.text)
        if credential == "other" and template == "/api/v1/links/bulk/tags":
            assert answer.json()["results"][0]["status"] == 404  # not another user's link
        if credential == "other" and (method, template) == ("get", "/api/v1/links"):
            assert "owned" not in {link["slug"] for link in answer.json()["items"]}
