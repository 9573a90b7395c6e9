"""The webhooks API as its users rely on it: refusals at registration (internal addresses, a
name resolving inside, bad filters) that change nothing; each user sees and changes only their
own endpoints and gets only their own links' events, an admin everyone's; and a name that
turns internal after registration is refused at delivery (DNS rebinding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surge.platform.config import Settings
from tests.conftest import Surge
from tests.helpers import LINKS, assert_problem, make_settings, wait_for
from tests.webhooks.conftest import FAST, NAMES, WEBHOOKS, accepted, resolve_with_stub
from tests.webhooks.receiver import Receiver

REFUSED = [
    "http://127.0.0.1/hook",
    "http://10.0.0.8/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://inside.example.com/hook",  # the stub resolves it to 10.1.2.3
    "http://localhost:8080/hook",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Nothing allowed inside but the receiver's port on 127.0.0.1, by name: so 127.0.0.1
    itself is refused like any internal address."""
    return make_settings(tmp_path, **{**FAST, "webhook_allowed_hosts": "receiver.test"})


async def test_internal_urls_are_refused_at_registration_and_change_nothing(
    surge: Surge,
) -> None:
    resolve_with_stub(surge)
    headers = await surge.new_key()
    for url in REFUSED:
        answer = await surge.client.post(
            WEBHOOKS, json={"url": url, "events": ["link.created"]}, headers=headers
        )
        problem = assert_problem(answer, 422, "validation-error")
        assert problem["errors"][0]["loc"] == ["body", "url"], url
    for body in (
        {"url": "https://hooks.example.com/", "events": []},
        {"url": "https://hooks.example.com/", "events": ["link.exploded"]},
        {
            "url": "https://hooks.example.com/",
            "events": ["link.created"],
            "tag": "a",
            "link_slug": "b",
        },
        {"url": "https://hooks.example.com/", "events": ["link.created"], "link_slug": "nope"},
    ):
        assert (await surge.client.post(WEBHOOKS, json=body, headers=headers)).status_code == 422
    assert (await surge.client.get(WEBHOOKS, headers=headers)).json() == []


async def test_users_see_their_own_endpoints_and_admins_everyone(surge: Surge) -> None:
    resolve_with_stub(surge)
    alice, bob = await surge.new_key("alice"), await surge.new_key("bob")
    assert surge.api.keys is not None
    admin_key = await surge.api.keys.create("admin", is_admin=True)
    admin = {"Authorization": f"Bearer {admin_key.secret}"}
    made = await surge.client.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/a", "events": ["link.created"]},
        headers=alice,
    )
    assert made.status_code == 201, made.text
    url = f"{WEBHOOKS}/{made.json()['id']}"
    assert (await surge.client.get(WEBHOOKS, headers=bob)).json() == []
    for method in ("GET", "DELETE"):
        assert_problem(await surge.client.request(method, url, headers=bob), 404, "not-found")
    assert_problem(await surge.client.post(f"{url}/enable", headers=bob), 404, "not-found")
    assert [e["url"] for e in (await surge.client.get(WEBHOOKS, headers=admin)).json()] == [
        "https://hooks.example.com/a"
    ]
    assert (await surge.client.delete(url, headers=admin)).status_code == 204
    assert (await surge.client.get(WEBHOOKS, headers=alice)).json() == []
    assert_problem(await surge.client.get(WEBHOOKS), 401, "unauthorized")


async def test_each_endpoint_gets_its_owners_links_and_an_admins_gets_all(
    surge: Surge, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And a delivery connects to the address it checked, the name in the Host header."""
    monkeypatch.setitem(NAMES, "receiver.test", ["127.0.0.1"])
    resolve_with_stub(surge)
    alice, bob = await surge.new_key("alice"), await surge.new_key("bob")
    assert surge.api.keys is not None
    admin_key = await surge.api.keys.create("admin", is_admin=True)
    admin = {"Authorization": f"Bearer {admin_key.secret}"}
    hook = f"http://receiver.test:{receiver.port}"
    for who, path in ((alice, "/alice"), (admin, "/admin")):
        body = {"url": hook + path, "events": ["link.created"]}
        assert (await surge.client.post(WEBHOOKS, json=body, headers=who)).status_code == 201
    for who, slug in ((alice, "a1"), (bob, "b1")):
        await surge.client.post(
            LINKS, json={"url": "https://example.com/", "slug": slug}, headers=who
        )

    async def three() -> bool:
        return len(accepted(receiver)) >= 3

    await wait_for(three, what="three deliveries")
    got = sorted(
        (r["headers"]["host"], json.loads(r["body"])["data"]["link"]["slug"])
        for r in accepted(receiver)
    )
    host = f"receiver.test:{receiver.port}"
    assert got == [(host, "a1"), (host, "a1"), (host, "b1")]


async def test_a_name_that_turns_internal_after_registration_is_refused_at_delivery(
    surge: Surge, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_with_stub(surge)
    headers = await surge.new_key()
    made = await surge.client.post(
        WEBHOOKS,
        json={"url": f"http://hooks.example.com:{receiver.port}/", "events": ["link.created"]},
        headers=headers,
    )
    assert made.status_code == 201
    monkeypatch.setitem(NAMES, "hooks.example.com", ["127.0.0.1"])  # DNS rebinding
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "x"}, headers=headers
    )
    attempts_url = f"{WEBHOOKS}/{made.json()['id']}/deliveries"

    async def refused() -> bool:
        attempts = (await surge.client.get(attempts_url, headers=headers)).json()
        return bool(attempts) and "internal address (127.0.0.1)" in attempts[0]["error"]

    await wait_for(refused, what="a refused attempt")
    assert accepted(receiver) == []


async def test_a_name_that_does_not_resolve_yet_is_taken_and_endpoints_are_bounded(
    surge: Surge,
) -> None:
    resolve_with_stub(surge)
    headers = await surge.new_key()
    for n in range(25):
        body = {"url": f"https://soon{n}.example.com/", "events": ["link.created"]}
        made = await surge.client.post(WEBHOOKS, json=body, headers=headers)
        assert made.status_code == 201, made.text
    body = {"url": "https://hooks.example.com/", "events": ["link.created"]}
    assert_problem(
        await surge.client.post(WEBHOOKS, json=body, headers=headers), 409, "webhook-limit"
    )


async def test_a_link_filter_gets_that_links_events_only(
    surge: Surge, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(NAMES, "receiver.test", ["127.0.0.1"])
    resolve_with_stub(surge)
    headers = await surge.new_key()
    for slug in ("a1", "a2"):
        link = {"url": "https://example.com/", "slug": slug}
        await surge.client.post(LINKS, json=link, headers=headers)
    made = await surge.client.post(
        WEBHOOKS,
        json={
            "url": f"http://receiver.test:{receiver.port}/",
            "events": ["link.updated"],
            "link": "a1",
        },
        headers=headers,
    )
    assert (made.json()["link_slug"], made.json()["pending"]) == ("a1", 0)
    for slug in ("a2", "a1", "a2"):
        changed = {"url": f"https://example.com/{slug}"}
        await surge.client.patch(f"{LINKS}/{slug}", json=changed, headers=headers)

    async def delivered() -> bool:
        shown = await surge.client.get(f"{WEBHOOKS}/{made.json()['id']}", headers=headers)
        return bool(accepted(receiver)) and shown.json()["pending"] == 0

    await wait_for(delivered, what="the delivery")
    assert [json.loads(r["body"])["data"]["link"]["slug"] for r in accepted(receiver)] == ["a1"]
