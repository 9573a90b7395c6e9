"""The plain statement of what redirect rules mean, for the generated matcher to be checked
against: the redirect's evaluation before it was compiled (one closure per condition, every
input read and parsed as the condition asks, conditions in the order written), and the one
pass over the headers that read the visitor (referer, user agent, Accept-Language, the trusted
country header, the trusted client-address header, in that order of precedence).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from surge.data.rules import (
    RedirectRule,
    RuleCondition,
    accepted_languages,
    browser_of,
    device_types,
    moment_of,
)

Scope = dict[str, Any]


@dataclass
class Visit:
    ua: str
    accept_language: str  # lower case
    query_string: str
    country: str | None  # upper case
    ip: str
    now: float

    @property
    def languages(self) -> list[str]:
        return accepted_languages(self.accept_language)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True) if self.query_string else {}


def visit_of(scope: Scope, now: float, country_header: bytes, ip_header: bytes) -> Visit:
    """The visitor as the redirect's header pass read it."""
    user_agent = country = ip = None
    language = ""
    for name, value in scope["headers"]:
        if name == b"referer":
            pass
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"accept-language":
            language = value.decode("latin-1")
        elif name == country_header:
            country = value.decode("latin-1")
        elif name == ip_header:
            ip = value.decode("latin-1").split(",", 1)[0].strip()
    if ip is None:
        client = scope.get("client")
        ip = client[0] if client else ""
    return Visit(
        user_agent or "",
        language.lower(),
        scope.get("query_string", b"").decode("latin-1"),
        country.upper() if country else None,
        ip,
        now,
    )


def _address(ip: str) -> tuple[int, int] | None:
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            return version, int.from_bytes(socket.inet_pton(family, ip))
        except OSError:
            continue
    return None


Predicate = Callable[[Visit], bool]


def predicate(condition: RuleCondition) -> Predicate:
    kind, key, value = condition.type, condition.key or "", condition.value
    if kind == "device":
        if value == "android":
            return lambda v: "Android" in v.ua
        if value == "ios":  # whatever else it names (device_types puts Android first)
            return lambda v: "iPhone" in v.ua or "iPad" in v.ua or "iPod" in v.ua
        return lambda v: value in device_types(v.ua)
    if kind == "browser":
        return lambda v: browser_of(v.ua) == value
    if kind == "language":
        wanted = value.lower()
        if "-" in wanted:
            return lambda v: wanted in v.languages
        return lambda v: any(t == wanted or t.startswith(wanted + "-") for t in v.languages)
    if kind == "query-param":
        return lambda v: value in v.query.get(key, ())
    if kind == "any-value-query-param":
        return lambda v: any(v.query.get(key, ()))
    if kind == "valueless-query-param":
        return lambda v: "" in v.query.get(key, ())
    if kind == "ip-address":
        if "*" in value:
            octets = value.split(".")
            return lambda v: (
                len(v.ip.split(".")) == 4
                and all(
                    (o == "*" and p.isdigit() and p.isascii() and 1 <= len(p) <= 3) or o == p
                    for o, p in zip(octets, v.ip.split("."), strict=True)
                )
            )
        network = ipaddress.ip_network(value, strict=False)

        def inside(v: Visit) -> bool:
            found = _address(v.ip)
            return (
                found is not None
                and found[0] == network.version
                and found[1] & int(network.netmask) == int(network.network_address)
            )

        return inside
    if kind == "geolocation-country-code":
        return lambda v: v.country == value.upper()
    if kind == "geolocation-city-name":
        return lambda v: False
    moment = moment_of(value)
    assert moment is not None
    at = moment.timestamp()
    if kind == "before-date":
        return lambda v: v.now < at
    return lambda v: v.now > at


def first_match(rules: Sequence[RedirectRule], visit: Visit) -> int | None:
    for index, rule in enumerate(rules):
        if all(predicate(c)(visit) for c in rule.conditions):
            return index
    return None
