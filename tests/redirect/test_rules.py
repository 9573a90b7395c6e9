"""Redirect rules on the redirect service: a cached link's rules read the request as the service
is configured (its trusted country and client-address headers), through the ASGI app and
through the link's compiled rules as the service calls them, the same answers as the plain
statement of the rules."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge.data.rules import RedirectRule, RuleCondition
from surge.platform.service import Lifespan
from surge.redirect.app import RedirectService
from surge.redirect.responses import Target
from tests.data import rule_reference
from tests.data.test_rule_matching import CONFIGS, NOW, a_request, some_rules
from tests.data.test_rules import ANDROID, IPHONE
from tests.fakes import LINK, FakeAnalytics, FakeApi
from tests.helpers import make_settings

RULES = [
    {
        "url": "https://example.com/fr",
        "conditions": [{"type": "geolocation-country-code", "value": "FR"}],
    },
    {
        "url": "https://example.com/office",
        "conditions": [{"type": "ip-address", "value": "10.0.0.0/8"}],
    },
    {
        "url": "https://example.com/ios-de",
        "conditions": [{"type": "device", "value": "ios"}, {"type": "language", "value": "de"}],
    },
    {
        "url": "https://example.com/promo",
        "conditions": [{"type": "query-param", "key": "utm", "value": "promo"}],
    },
]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Without query forwarding: the location is the rule's own target, as it is written.
    api = FakeApi({"ruled": {**LINK, "slug": "ruled", "rules": RULES, "forward_query": False}})
    service = RedirectService(
        make_settings(tmp_path, client_ip_header="x-forwarded-for"),
        api_transport=httpx.MockTransport(api.handle),
        analytics_transport=httpx.MockTransport(FakeAnalytics().handle),
    )
    async with Lifespan(service.app, [service]) as lifespan:
        transport = httpx.ASGITransport(app=lifespan, client=("198.51.100.23", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://sho.rt") as client:
            yield client


@pytest.mark.parametrize(
    ("headers", "query", "target"),
    [
        ({"cf-ipcountry": "fr"}, "", "fr"),
        ({"x-forwarded-for": "10.2.3.4, 198.51.100.1"}, "", "office"),
        ({"x-forwarded-for": "198.51.100.1, 10.2.3.4"}, "", None),  # the first is the client's
        ({"user-agent": IPHONE, "accept-language": "de-AT"}, "", "ios-de"),
        ({"user-agent": ANDROID, "accept-language": "de-AT"}, "", None),
        ({}, "utm=promo", "promo"),
        ({"cf-ipcountry": "DE", "user-agent": IPHONE}, "utm=other", None),
    ],
)
async def test_a_cached_link_goes_where_its_first_matching_rule_says(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, target: str | None
) -> None:
    for _ in range(2):  # loaded, then cached
        answer = await client.get(f"/ruled?{query}" if query else "/ruled", headers=headers)
        assert answer.status_code == 302
        location = f"https://example.com/{target}" if target else "https://example.com/%C3%BC?x=1"
        assert answer.headers["location"] == location


def matched(service: RedirectService, target: Target, scope: dict[str, Any]) -> int | None:
    """The rule the redirect picks, from the headers it answers a HEAD of the link with: its
    own pass over the request's headers, its compiled rules."""
    headers, click = service._ruled(target, scope, "HEAD", NOW)
    assert click is None  # a HEAD is no click
    if headers is target.headers:
        return None
    return next(i for i, rule_headers in enumerate(target.rule_headers) if rule_headers is headers)


@pytest.mark.parametrize("config", CONFIGS)
def test_matched_rule_reads_the_request_as_the_service_is_configured(
    tmp_path: Path, config: tuple[bytes, bytes]
) -> None:
    country, ip = (name.decode() or None for name in config)
    service = RedirectService(make_settings(tmp_path, country_header=country, client_ip_header=ip))
    rng = random.Random(repr(config))
    for _ in range(20):
        rules = some_rules(rng)
        target = Target.build(1, "s", "https://e.com", 302, None, None, 0, [], rules)
        for _ in range(20):
            scope = a_request(rng, config)
            visit = rule_reference.visit_of(scope, NOW, service.country_header, service.ip_header)
            expected = rule_reference.first_match(rules, visit)
            assert matched(service, target, scope) == expected, (rules, scope)


def test_a_link_whose_rules_cannot_hold_always_goes_to_its_url(tmp_path: Path) -> None:
    service = RedirectService(make_settings(tmp_path))
    paris = RuleCondition(type="geolocation-city-name", value="Paris")
    rules = [RedirectRule(url="https://e.com/paris", conditions=[paris])]
    target = Target.build(1, "s", "https://e.com", 302, None, None, 0, [], rules)
    assert matched(service, target, {"headers": []}) is None
