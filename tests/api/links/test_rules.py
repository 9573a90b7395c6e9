"""Redirect rules through the links API and the redirect: stored with the link, evaluated per
request (the first that matches wins), changed everywhere at once, refused when invalid."""

from __future__ import annotations

from tests.conftest import Surge
from tests.data.test_rules import ANDROID, IPHONE, MAC_SAFARI
from tests.helpers import wait_for

LINKS = "/api/v1/links"
RULES = [
    {"url": "https://example.com/android", "conditions": [{"type": "device", "value": "android"}]},
    {"url": "https://example.com/ios", "conditions": [{"type": "device", "value": "ios"}]},
    {
        "url": "https://example.com/de",
        "conditions": [{"type": "language", "value": "de"}, {"type": "device", "value": "desktop"}],
    },
]


async def goes_to(surge: Surge, path: str, **headers: str) -> str:
    answer = await surge.client.get(path, headers=headers)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def test_each_request_goes_where_its_first_matching_rule_says(surge: Surge) -> None:
    key = await surge.new_key()
    made = await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "get", "rules": RULES}, headers=key
    )
    assert made.status_code == 201, made.text
    assert [r["url"] for r in made.json()["rules"]] == [r["url"] for r in RULES]
    assert await goes_to(surge, "/get", **{"user-agent": ANDROID}) == "https://example.com/android"
    assert await goes_to(surge, "/get", **{"user-agent": IPHONE}) == "https://example.com/ios"
    german = {"user-agent": MAC_SAFARI, "accept-language": "de-AT,de;q=0.9"}
    assert await goes_to(surge, "/get", **german) == "https://example.com/de"
    assert await goes_to(surge, "/get", **{"user-agent": MAC_SAFARI}) == "https://example.com/"
    answer = await surge.client.get("/get", headers={"user-agent": MAC_SAFARI})
    assert answer.headers["cache-control"] == "private, max-age=0"  # never kept by a browser

    # Every redirect counts, whichever target it went to.
    stats = await surge.stats("get", key)
    assert stats["total"] == 5


async def test_a_rules_change_takes_effect_at_once(surge: Surge) -> None:
    key = await surge.new_key()
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "ch", "rules": RULES[:1]}, headers=key
    )
    assert await goes_to(surge, "/ch", **{"user-agent": ANDROID}) == "https://example.com/android"
    changed = await surge.client.patch(f"{LINKS}/ch", json={"rules": RULES[1:2]}, headers=key)
    assert changed.status_code == 200

    async def moved() -> bool:
        return await goes_to(surge, "/ch", **{"user-agent": ANDROID}) == "https://example.com/"

    await wait_for(moved, timeout_s=5.0, what="the new rules on the redirect")
    assert await goes_to(surge, "/ch", **{"user-agent": IPHONE}) == "https://example.com/ios"
    cleared = await surge.client.patch(f"{LINKS}/ch", json={"rules": []}, headers=key)
    assert cleared.json()["rules"] == []


async def test_invalid_rules_are_422_naming_the_field_and_change_nothing(surge: Surge) -> None:
    key = await surge.new_key()
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "keep", "rules": RULES[:1]}, headers=key
    )
    bad_rules = [
        ([{"url": "https://e.com", "conditions": []}], "conditions"),
        (
            [{"url": "https://e.com", "conditions": [{"type": "device", "value": "fridge"}]}],
            "device",
        ),
        (
            [
                {
                    "url": "https://e.com",
                    "conditions": [{"type": "ip-address", "value": "10.0.0.0/40"}],
                }
            ],
            "CIDR",
        ),
        ([{"url": "https://e.com", "conditions": [{"type": "query-param", "value": "x"}]}], "key"),
        (
            [
                {
                    "url": "https://printer.local/x",
                    "conditions": [{"type": "device", "value": "ios"}],
                }
            ],
            "rules[0].url",
        ),
        (
            [{"url": "https://e.com", "conditions": [{"type": "moon-phase", "value": "full"}]}],
            "type",
        ),
    ]
    for rules, words in bad_rules:
        for method, path, body in (
            ("POST", LINKS, {"url": "https://example.com/", "rules": rules}),
            ("PATCH", f"{LINKS}/keep", {"rules": rules}),
        ):
            answer = await surge.client.request(method, path, json=body, headers=key)
            assert answer.status_code == 422, (rules, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert words.lower() in answer.text.lower(), (words, answer.text)
    kept = (await surge.client.get(f"{LINKS}/keep", headers=key)).json()
    assert [r["url"] for r in kept["rules"]] == ["https://example.com/android"]
    listed = (await surge.client.get(LINKS, headers=key)).json()["items"]
    assert [link["slug"] for link in listed] == ["keep"]
