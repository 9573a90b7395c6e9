"""The webhooks page: register an endpoint (its secret shown once, never again), see its last
deliveries and why it was disabled, enable it again, send an event again, delete it; a refused
URL shows the form again and registers nothing; another user sees none of it."""

from __future__ import annotations

from sqlalchemy import update

from surge.data.tables import webhook_endpoints
from surge.platform.db import transaction
from tests.conftest import Surge
from tests.helpers import DASHBOARD_PASSWORD, LINKS, csrf_of, dashboard_sign_in, wait_for

PAGE = "/app/webhooks"


async def test_register_see_enable_resend_and_delete_a_webhook(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    page = await surge.client.get(PAGE)
    assert page.status_code == 200
    assert 'href="/app/webhooks"' in page.text

    refused = await surge.client.post(
        PAGE, data={"csrf": csrf, "url": "http://127.0.0.1/hook", "events": "link.created"}
    )
    assert refused.status_code == 422
    assert "internal address" in refused.text
    assert 'value="http://127.0.0.1/hook"' in refused.text  # the form as sent
    assert "webhook-1" not in refused.text

    made = await surge.client.post(
        PAGE,
        data={
            "csrf": csrf,
            "url": "https://hooks.example.com/surge",
            "events": ["link.created", "link.deleted"],
        },
    )
    assert made.status_code == 201
    secret = made.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    listed = await surge.client.get(PAGE)
    assert secret not in listed.text  # shown once
    assert 'id="webhook-1"' in listed.text
    assert "link.deleted" in listed.text
    assert "link.clicked" not in listed.text.split('id="webhook-1"')[1]

    # Its URL does not resolve here: the attempt shows, with why it failed.
    headers = await surge.new_key()
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "w"}, headers=headers
    )

    async def attempted() -> bool:
        return "does not resolve" in (await surge.client.get(PAGE)).text

    await wait_for(attempted, what="a delivery attempt")
    assert surge.api.data is not None
    async with transaction(surge.api.data.sessions) as session:
        await session.execute(
            update(webhook_endpoints).values(enabled=False, disabled_reason="20 failed in a row")
        )
    shown = (await surge.client.get(PAGE)).text
    assert "Disabled: 20 failed in a row" in shown
    event_id = shown.split("/deliveries/")[1].split("/resend")[0]
    enabled = await surge.client.post(f"{PAGE}/1/enable", data={"csrf": csrf})
    assert enabled.status_code == 303
    assert "Disabled:" not in (await surge.client.get(PAGE)).text
    resent = await surge.client.post(f"{PAGE}/1/deliveries/{event_id}/resend", data={"csrf": csrf})
    assert resent.status_code == 303

    assert surge.api.users is not None
    await surge.api.users.create("ann@example.com", password=DASHBOARD_PASSWORD)
    other = surge.client
    other.cookies.clear()
    ann_csrf = await dashboard_sign_in(other, "ann@example.com")
    assert 'id="webhook-1"' not in (await other.get(PAGE)).text
    assert (await other.post(f"{PAGE}/1/delete", data={"csrf": ann_csrf})).status_code == 404
    other.cookies.clear()
    root_csrf = await dashboard_sign_in(other, "root@example.com")
    assert (await other.post(f"{PAGE}/1/delete", data={"csrf": root_csrf})).status_code == 303
    assert 'id="webhook-1"' not in (await other.get(PAGE)).text
    assert csrf_of(await other.get(PAGE))
