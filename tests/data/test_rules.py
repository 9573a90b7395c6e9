"""Redirect rules as users write them: a table of real requests and the target each gets, the
first matching rule winning, and the conditions that are refused before they are stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from surge.data.rule_inputs import header_names
from surge.data.rule_matching import compile_rules, first_rule
from surge.data.rules import (
    RedirectRule,
    RuleCondition,
    browser_of,
    condition_problem,
    device_types,
)

ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD_FIREFOX = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "FxiOS/127.0 Mobile/15E148 Safari/605.1.15"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
NOW = datetime(2027, 6, 15, 10, 30, tzinfo=UTC).timestamp()
NAMES = header_names(b"cf-ipcountry", b"")


def first_match(
    rules: list[RedirectRule],
    ua: str,
    language: str,
    query: str,
    country: str | None,
    ip: str,
    now: float = NOW,
) -> int | None:
    """The rule a request with these headers, query and socket address goes to."""
    headers = [(b"host", b"sho.rt"), (b"user-agent", ua.encode("latin-1"))]
    if language:
        headers.append((b"accept-language", language.encode("latin-1")))
    if country is not None:
        headers.append((b"cf-ipcountry", country.encode("latin-1")))
    scope = {"headers": headers, "query_string": query.encode("latin-1"), "client": (ip, 5000)}
    return first_rule(compile_rules(rules), scope, now, NAMES)


@pytest.mark.parametrize(
    ("ua", "devices", "browser"),
    [
        (ANDROID, {"android", "mobile"}, "chrome"),
        (IPHONE, {"ios", "mobile"}, "safari"),
        (IPAD_FIREFOX, {"ios", "mobile"}, "firefox"),
        (WINDOWS_EDGE, {"desktop", "windows"}, "edge"),
        (MAC_SAFARI, {"desktop", "macos"}, "safari"),
        (LINUX_FIREFOX, {"desktop", "linux"}, "firefox"),
        (CHROMEBOOK, {"desktop", "chromeos"}, "chrome"),
        ("curl/8.5.0", {"desktop"}, None),
    ],
)
def test_devices_and_browsers_of_real_user_agents(
    ua: str, devices: set[str], browser: str | None
) -> None:
    assert device_types(ua) == devices
    assert browser_of(ua) == browser


def rule(url: str, *conditions: tuple[str, str | None, str]) -> RedirectRule:
    return RedirectRule(
        url=url,
        conditions=[RuleCondition(type=t, key=k, value=v) for t, k, v in conditions],  # type: ignore[arg-type]
    )


RULES = [
    rule("https://e.com/android-de", ("device", None, "android"), ("language", None, "de")),
    rule("https://e.com/android", ("device", None, "android")),
    rule("https://e.com/ios", ("device", None, "ios")),
    rule("https://e.com/en-gb", ("language", None, "en-GB")),
    rule("https://e.com/promo", ("query-param", "utm", "promo")),
    rule("https://e.com/debug", ("valueless-query-param", "debug", "")),
    rule("https://e.com/ref", ("any-value-query-param", "ref", "")),
    rule("https://e.com/office", ("ip-address", None, "10.1.0.0/16")),
    rule("https://e.com/lab", ("ip-address", None, "192.168.*.*")),
    rule("https://e.com/v6", ("ip-address", None, "2001:db8::/32")),
    rule("https://e.com/fr", ("geolocation-country-code", None, "fr")),
    rule("https://e.com/early", ("before-date", None, "2027-01-01T00:00:00Z")),
    rule("https://e.com/later", ("after-date", None, "2027-06-01T00:00:00+02:00")),
]


@pytest.mark.parametrize(
    ("ua", "language", "query", "country", "ip", "target"),
    [
        (ANDROID, "de-DE,de;q=0.9,en;q=0.5", "", None, "203.0.113.9", "android-de"),
        (ANDROID, "fr-FR, de;q=0", "", None, "203.0.113.9", "android"),  # q=0: refused
        (IPHONE, "de", "", None, "203.0.113.9", "ios"),
        (MAC_SAFARI, "en-US,en-GB;q=0.8", "", None, "203.0.113.9", "en-gb"),
        (MAC_SAFARI, "en", "", None, "203.0.113.9", "later"),  # en is not en-GB
        (WINDOWS_EDGE, "", "utm=promo&x=1", None, "203.0.113.9", "promo"),
        (WINDOWS_EDGE, "", "utm=other", None, "203.0.113.9", "later"),
        (WINDOWS_EDGE, "", "debug", None, "203.0.113.9", "debug"),
        (WINDOWS_EDGE, "", "debug=1", None, "203.0.113.9", "later"),  # not valueless
        (WINDOWS_EDGE, "", "ref=news", None, "203.0.113.9", "ref"),
        (WINDOWS_EDGE, "", "ref=", None, "203.0.113.9", "later"),  # no value: not "any"
        (LINUX_FIREFOX, "", "", None, "10.1.44.7", "office"),
        (LINUX_FIREFOX, "", "", None, "10.2.0.1", "later"),
        (LINUX_FIREFOX, "", "", None, "192.168.3.4", "lab"),
        (LINUX_FIREFOX, "", "", None, "2001:db8:1::5", "v6"),
        (LINUX_FIREFOX, "", "", "FR", "203.0.113.9", "fr"),
    ],
)
def test_a_request_goes_to_the_first_rule_it_matches(
    ua: str, language: str, query: str, country: str | None, ip: str, target: str
) -> None:
    found = first_match(RULES, ua, language, query, country, ip)
    assert found is not None
    assert RULES[found].url == f"https://e.com/{target}"


def test_no_rule_matching_means_the_links_own_url() -> None:
    rules = RULES[:-1]  # without the date rule that matches from June
    assert first_match(rules, LINUX_FIREFOX, "", "", None, "203.0.113.9") is None
    early = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    found = first_match(rules, LINUX_FIREFOX, "", "", None, "203.0.113.9", early)
    assert found is not None
    assert RULES[found].url == "https://e.com/early"


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (("device", None, "tablet"), "device is one of"),
        (("browser", None, "netscape"), "browser is one of"),
        (("language", None, "english!"), "language tag"),
        (("query-param", None, "x"), "names its query parameter"),
        (("query-param", "utm", ""), "needs the `value`"),
        (("device", "k", "ios"), "has no `key`"),
        (("ip-address", None, "10.0.0.0/33"), "CIDR"),
        (("ip-address", None, "10.*.*"), "CIDR"),
        (("geolocation-country-code", None, "FRA"), "two-letter"),
        (("before-date", None, "2030-01-01"), "time zone"),
        (("after-date", None, "soon"), "time zone"),
    ],
)
def test_conditions_that_cannot_be_evaluated_are_refused(
    condition: tuple[str, str | None, str], words: str
) -> None:
    kind, key, value = condition
    problem = condition_problem(RuleCondition(type=kind, key=key, value=value))  # type: ignore[arg-type]
    assert problem is not None
    assert words in problem


def test_the_apis_condition_values_are_the_ones_the_redirect_knows() -> None:
    """The links API states devices and browsers as enums in its schema; they must be the
    very lists the redirect evaluates (a value in one and not the other is a rule that is
    refused, or stored and never matched)."""
    from typing import get_args

    from surge.data.rules import BROWSERS, DEVICES
    from surge.links.rule_schemas import BrowserCondition, DeviceCondition

    assert get_args(DeviceCondition.model_fields["value"].annotation) == DEVICES
    assert get_args(BrowserCondition.model_fields["value"].annotation) == BROWSERS
