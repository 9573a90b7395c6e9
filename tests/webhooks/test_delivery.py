"""Webhooks as a receiver relies on them, in-process on both backends: link changes arrive in
order, signed, once committed; clicks arrive in batches, each once, without the address; a
failing endpoint is retried, disabled after 20 failures, and resumes where it stopped."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, select

from surge.data.tables import webhook_click_queue, webhook_outbox
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, LINKS, event, wait_for
from tests.webhooks.conftest import WEBHOOKS, accepted, signature_ok
from tests.webhooks.receiver import Receiver

ALL_EVENTS = ["link.created", "link.updated", "link.deleted", "link.clicked"]


async def register(
    surge: Surge, headers: dict[str, str], receiver: Receiver, **body: Any
) -> dict[str, Any]:
    made = await surge.client.post(
        WEBHOOKS,
        json={"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ALL_EVENTS, **body},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    endpoint: dict[str, Any] = made.json()
    return endpoint


async def arrived(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return len(accepted(receiver)) >= count

    await wait_for(enough, what=f"{count} deliveries")
    return [json.loads(r["body"]) for r in accepted(receiver)]


async def settled(surge: Surge) -> None:
    """Nothing queued and nothing undelivered: whatever was to arrive has."""
    assert surge.analytics.data is not None
    sessions = surge.analytics.data.sessions

    async def empty() -> bool:
        async with sessions() as session:
            queued = (
                await session.execute(select(func.count()).select_from(webhook_click_queue))
            ).scalar_one()
            pending = (
                await session.execute(
                    select(func.count()).where(webhook_outbox.c.delivered_at.is_(None))
                )
            ).scalar_one()
        return queued == 0 and pending == 0

    await wait_for(empty, what="the outbox to drain")


async def test_link_changes_arrive_in_order_signed(surge: Surge, receiver: Receiver) -> None:
    headers = await surge.new_key()
    endpoint = await register(surge, headers, receiver)
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    listed = await surge.client.get(WEBHOOKS, headers=headers)
    assert [e["id"] for e in listed.json()] == [endpoint["id"]]
    assert "secret" not in listed.json()[0]  # shown once, at creation

    made = await surge.client.post(
        LINKS,
        json={"url": "https://example.com/a", "slug": "promo", "tags": ["x"]},
        headers=headers,
    )
    assert made.status_code == 201
    await surge.client.patch(
        f"{LINKS}/promo", json={"url": "https://example.com/b"}, headers=headers
    )
    renamed = await surge.client.patch("/api/v1/tags/x", json={"name": "y"}, headers=headers)
    assert renamed.status_code == 204, renamed.text
    await surge.client.delete(f"{LINKS}/promo", headers=headers)

    bodies = await arrived(receiver, 4)
    assert [b["type"] for b in bodies] == [
        "link.created",
        "link.updated",
        "link.updated",  # its tag renamed
        "link.deleted",
    ]
    assert [b["data"]["link"]["url"] for b in bodies] == [
        "https://example.com/a",
        "https://example.com/b",
        "https://example.com/b",
        "https://example.com/b",
    ]
    assert bodies[0]["data"]["link"]["slug"] == "promo"
    assert [b["data"]["link"]["tags"] for b in bodies] == [["x"], ["x"], ["y"], ["y"]]
    assert len({b["id"] for b in bodies}) == 4
    for request in accepted(receiver):
        assert signature_ok(secret, request)
        assert request["headers"]["surge-webhook-id"] == json.loads(request["body"])["id"]
    assert not signature_ok("whsec_another", accepted(receiver)[0])

    # The worker records a round's attempts after its last send: the receiver may have all four
    # before they are committed.
    await settled(surge)
    attempts = await surge.client.get(f"{WEBHOOKS}/{endpoint['id']}/deliveries", headers=headers)
    assert [(a["type"], a["ok"], a["status_code"]) for a in attempts.json()] == [
        ("link.deleted", True, 200),
        ("link.updated", True, 200),
        ("link.updated", True, 200),
        ("link.created", True, 200),
    ]


async def test_clicks_arrive_in_batches_each_once_without_the_address(
    surge: Surge, receiver: Receiver
) -> None:
    headers = await surge.new_key()
    await register(surge, headers, receiver, tag="clicked")
    await surge.client.post(
        LINKS,
        json={"url": "https://example.com/", "slug": "c", "tags": ["clicked"]},
        headers=headers,
    )
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "untagged"}, headers=headers
    )
    visitor = {"user-agent": BROWSER_UA, "x-test-client-ip": "198.51.100.7", "cf-ipcountry": "NL"}
    for slug in ("c", "c", "untagged", "c"):
        assert (await surge.client.get(f"/{slug}", headers=visitor)).status_code == 302
    await surge.flush_clicks()
    await settled(surge)

    clicked = [b for b in await arrived(receiver, 2) if b["type"] == "link.clicked"]
    clicks = [c for b in clicked for c in b["data"]["clicks"]]
    assert len(clicks) == 3  # the untagged link's click is not this endpoint's
    assert {c["link"]["slug"] for c in clicks} == {"c"}
    assert {(c["country"], c["device"], c["browser"], c["is_bot"]) for c in clicks} == {
        ("NL", "desktop", "Chrome", False)
    }
    assert all("198.51.100.7" not in r["body"] for r in accepted(receiver))

    # A batch the stream delivers again is ingested once, and its clicks queued once; so is a
    # click that comes twice in one batch.
    link_id = clicks[0]["link"]["id"]
    repeated = event(link_id)
    batch = [repeated, repeated, event(link_id)]
    assert surge.analytics.clicks is not None
    await surge.analytics.clicks.ingest(batch)
    await surge.analytics.clicks.ingest(batch)
    await settled(surge)
    clicks = [
        c
        for b in await arrived(receiver, 3)
        if b["type"] == "link.clicked"
        for c in b["data"]["clicks"]
    ]
    assert len(clicks) == 5
    assert len({c["id"] for c in clicks}) == 5


async def test_a_failing_endpoint_is_disabled_after_20_failures_and_resumes(
    surge: Surge, receiver: Receiver
) -> None:
    headers = await surge.new_key()
    endpoint = await register(surge, headers, receiver)
    receiver.mode.write_text("fail")
    for slug in ("one", "two"):
        await surge.client.post(
            LINKS, json={"url": "https://example.com/", "slug": slug}, headers=headers
        )
    url = f"{WEBHOOKS}/{endpoint['id']}"

    async def disabled() -> bool:
        return not (await surge.client.get(url, headers=headers)).json()["enabled"]

    await wait_for(disabled, what="the endpoint to be disabled")
    shown = (await surge.client.get(url, headers=headers)).json()
    assert shown["consecutive_failures"] == 20
    assert "20 failed deliveries in a row" in shown["disabled_reason"]
    assert "500" in shown["disabled_reason"]
    assert shown["pending"] == 2
    attempts = (
        await surge.client.get(f"{url}/deliveries", headers=headers, params={"limit": 100})
    ).json()
    assert len(attempts) == 20
    assert {(a["type"], a["status_code"], a["ok"]) for a in attempts} == {
        ("link.created", 500, False)
    }

    assert surge.analytics.webhooks is not None
    await surge.analytics.webhooks.measure()
    assert REGISTRY.get_sample_value("surge_webhook_endpoints_disabled") == 1
    assert REGISTRY.get_sample_value("surge_webhook_outbox_pending") == 0  # enabled ones only
    failed = REGISTRY.get_sample_value("surge_webhook_deliveries_total", {"outcome": "http_error"})
    assert failed is not None
    assert failed >= 20

    receiver.mode.write_text("ok")
    enabled = await surge.client.post(f"{url}/enable", headers=headers)
    assert enabled.json()["enabled"] is True
    bodies = await arrived(receiver, 2)
    assert [b["data"]["link"]["slug"] for b in bodies] == ["one", "two"]  # from where it stopped
    await settled(surge)

    # Sent again on request: the same event, the same id, a fresh signature.
    first = bodies[0]["id"]
    again = await surge.client.post(f"{url}/deliveries/{first}/resend", headers=headers)
    assert again.status_code == 202
    bodies = await arrived(receiver, 3)
    assert bodies[2] == bodies[0]


async def test_bulk_writes_emit_one_event_per_link(surge: Surge, receiver: Receiver) -> None:
    headers = await surge.new_key()
    await register(surge, headers, receiver)
    links = [{"url": f"https://example.com/{i}", "slug": f"b{i}"} for i in range(3)]
    made = await surge.client.post(f"{LINKS}/bulk", json={"links": links}, headers=headers)
    assert made.status_code == 200, made.text
    slugs = ["b0", "b1", "b2"]
    tagged = await surge.client.post(
        f"{LINKS}/bulk/tags", json={"slugs": slugs, "add": ["t"]}, headers=headers
    )
    assert tagged.status_code == 200, tagged.text
    gone = await surge.client.post(f"{LINKS}/bulk/delete", json={"slugs": slugs}, headers=headers)
    assert gone.status_code == 200, gone.text

    bodies = await arrived(receiver, 9)
    assert [(b["type"], b["data"]["link"]["slug"]) for b in bodies] == [
        (kind, slug) for kind in ("link.created", "link.updated", "link.deleted") for slug in slugs
    ]
    assert [b["data"]["link"]["tags"] for b in bodies[3:]] == [["t"]] * 6
