"""A link's options through the links API and the redirect: query forwarding, a start date,
and which target of a link with redirect rules each click went to (a stats breakdown)."""

from __future__ import annotations

from datetime import UTC, timedelta

from surge.data.contracts import VisitsQuery
from surge.platform.clock import utc_now
from tests.conftest import Surge
from tests.data.test_rules import ANDROID, IPHONE, MAC_SAFARI
from tests.helpers import LINKS, wait_for

RULES = [
    {"url": "https://example.com/android", "conditions": [{"type": "device", "value": "android"}]},
    {"url": "https://example.com/ios", "conditions": [{"type": "device", "value": "ios"}]},
]


async def made(surge: Surge, key: dict[str, str], **body: object) -> dict[str, object]:
    answer = await surge.client.post(LINKS, json=body, headers=key)
    assert answer.status_code == 201, answer.text
    result: dict[str, object] = answer.json()
    return result


async def location(surge: Surge, path: str, **headers: str) -> str:
    answer = await surge.client.get(path, headers=headers)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def test_the_visitors_query_is_forwarded_unless_the_link_says_not(
    surge: Surge, key: dict[str, str]
) -> None:
    await made(surge, key, url="https://example.com/a?ref=ours", slug="fwd")
    await made(surge, key, url="https://example.com/b", slug="nofwd", forward_query=False)
    assert await location(surge, "/fwd?utm_source=news&ref=x") == (
        "https://example.com/a?ref=ours&utm_source=news"
    )
    assert await location(surge, "/fwd") == "https://example.com/a?ref=ours"
    assert await location(surge, "/nofwd?utm_source=news") == "https://example.com/b"

    # Rules' targets forward it too; and a change of the option reaches the redirect at once.
    await made(surge, key, url="https://example.com/", slug="ruled", rules=RULES)
    assert await location(surge, "/ruled?x=1", **{"user-agent": IPHONE}) == (
        "https://example.com/ios?x=1"
    )
    changed = await surge.client.patch(f"{LINKS}/fwd", json={"forward_query": False}, headers=key)
    assert changed.json()["forward_query"] is False

    async def stopped() -> bool:
        return await location(surge, "/fwd?utm_source=news") == "https://example.com/a?ref=ours"

    await wait_for(stopped, timeout_s=5.0, what="forwarding off on the redirect")


async def test_a_link_answers_as_unknown_before_it_is_valid(
    surge: Surge, key: dict[str, str]
) -> None:
    start = (utc_now() + timedelta(hours=1)).replace(microsecond=0)
    link = await made(
        surge, key, url="https://example.com/", slug="soon", valid_since=start.isoformat()
    )
    assert link["valid_since"] == start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    early = await surge.client.get("/soon")
    assert early.status_code == 404
    assert (await surge.client.head("/soon")).status_code == 404
    started = await surge.client.patch(
        f"{LINKS}/soon", json={"valid_since": "2020-01-01T00:00:00Z"}, headers=key
    )
    assert started.status_code == 200

    async def open_now() -> bool:
        return (await surge.client.get("/soon")).status_code == 302

    await wait_for(open_now, timeout_s=5.0, what="the link valid on the redirect")
    cleared = await surge.client.patch(f"{LINKS}/soon", json={"valid_since": None}, headers=key)
    assert cleared.json()["valid_since"] is None
    stats = await surge.stats("soon", key)
    assert stats["total"] == 1  # the 404 before it was valid was no click


async def test_stats_break_clicks_down_by_the_target_they_went_to(
    surge: Surge, key: dict[str, str]
) -> None:
    await made(surge, key, url="https://example.com/", slug="ab", rules=RULES)
    await made(surge, key, url="https://example.com/plain", slug="plain")
    visits = [ANDROID, IPHONE, IPHONE, MAC_SAFARI, MAC_SAFARI, MAC_SAFARI]
    for agent in visits:
        await surge.client.get("/ab", headers={"user-agent": agent})
    await surge.client.get("/plain", headers={"user-agent": ANDROID})
    assert (await surge.client.head("/ab", headers={"user-agent": ANDROID})).status_code == 302

    stats = await surge.stats("ab", key)
    assert stats["total"] == len(visits)  # HEAD is no click
    assert stats["targets"] == [
        {"value": "https://example.com/", "clicks": 3},
        {"value": "https://example.com/ios", "clicks": 2},
        {"value": "https://example.com/android", "clicks": 1},
    ]
    assert sum(t["clicks"] for t in stats["targets"]) == stats["total"]
    assert (await surge.stats("plain", key))["targets"] == []  # no rules, no breakdown

    # Raw visits say where each click went.
    link = await surge.links.get(None, "ab")
    page = await surge.links.visits(VisitsQuery(link_ids=[link.id], limit=100))
    assert sorted(v.target or "" for v in page.items) == sorted(
        ["https://example.com/android"]
        + ["https://example.com/ios"] * 2
        + ["https://example.com/"] * 3
    )
