"""Redirect rules, with Shlink 4's semantics: an ordered list per link, each a target and one or
more conditions that must all hold; the first rule that matches wins, else the link's own URL.

What the api validates (`condition_problem`) and what the redirect evaluates (`compile_rules`,
`first_match`) live together so the two never disagree. Evaluation reads only the request and
the clock: no I/O, on the cached entry. Only the standard library and pydantic (the redirect
imports this).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

ConditionType = Literal[
    "device",
    "browser",
    "language",
    "query-param",
    "any-value-query-param",
    "valueless-query-param",
    "ip-address",
    "geolocation-country-code",
    "geolocation-city-name",
    "before-date",
    "after-date",
]
CONDITION_TYPES: tuple[str, ...] = ConditionType.__args__  # type: ignore[attr-defined]
# Shlink's device types: two platforms, the two classes, and desktop operating systems.
DEVICES = ("android", "ios", "mobile", "desktop", "windows", "macos", "linux", "chromeos")
BROWSERS = ("chrome", "firefox", "safari", "edge", "opera", "samsung-internet")
KEYED = frozenset({"query-param", "any-value-query-param", "valueless-query-param"})
MAX_RULES = 20
MAX_CONDITIONS = 10
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2}|\*)"
_WILDCARD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


class RuleCondition(BaseModel):
    """One condition: its type, the query parameter it names (query types only), its value."""

    model_config = ConfigDict(extra="forbid")

    type: ConditionType
    key: str | None = Field(default=None, max_length=100)
    value: str = Field(default="", max_length=200)


class RedirectRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    conditions: list[RuleCondition] = Field(min_length=1, max_length=MAX_CONDITIONS)


def _datetime(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def condition_problem(condition: RuleCondition) -> str | None:
    """Why a condition cannot be evaluated, or None."""
    kind, key, value = condition.type, condition.key, condition.value
    if kind in KEYED:
        if not key:
            return f"a {kind} condition names its query parameter in `key`"
        if kind == "query-param" and value == "":
            return "a query-param condition needs the `value` the parameter must equal"
        if kind != "query-param" and value != "":
            return f"a {kind} condition has no `value`"
        return None
    if key is not None:
        return f"a {kind} condition has no `key`"
    if kind == "device" and value not in DEVICES:
        return f"device is one of {', '.join(DEVICES)}"
    if kind == "browser" and value not in BROWSERS:
        return f"browser is one of {', '.join(BROWSERS)}"
    if kind == "language" and not _LANGUAGE.fullmatch(value):
        return "language is a language tag such as en or en-US"
    if kind == "geolocation-country-code" and not _COUNTRY.fullmatch(value):
        return "geolocation-country-code is a two-letter ISO 3166-1 code such as DE"
    if kind == "geolocation-city-name" and not value.strip():
        return "geolocation-city-name needs a city name"
    if kind == "ip-address" and _ip_matcher(value) is None:
        return (
            "ip-address is an address, a CIDR block (10.0.0.0/8, 2001:db8::/32) or a "
            "wildcard (192.168.*.*)"
        )
    if kind in ("before-date", "after-date") and _datetime(value) is None:
        return f"{kind} is a date-time with a time zone, such as 2030-01-01T00:00:00Z"
    return None


# --- evaluation --------------------------------------------------------------------------------


class Visit:
    """What the conditions read of one request, each parsed the first time a condition asks."""

    __slots__ = (
        "_address",
        "_devices",
        "_languages",
        "_query",
        "accept_language",
        "country",
        "ip",
        "now",
        "query_string",
        "ua",
    )

    def __init__(
        self,
        ua: str,
        accept_language: str,
        query_string: str,
        country: str | None,
        ip: str,
        now: float,
    ) -> None:
        self.ua = ua
        self.query_string = query_string
        self.country = country.upper() if country else None
        self.ip = ip
        self.now = now
        self._languages: list[str] | None = None
        self._query: dict[str, list[str]] | None = None
        self._devices: frozenset[str] | None = None
        self._address: tuple[int, int] | bool | None = False  # False: not parsed yet
        self.accept_language = accept_language.lower()

    @property
    def address(self) -> tuple[int, int] | None:
        if self._address is False:
            self._address = address_number(self.ip)
        return self._address  # type: ignore[return-value]

    @property
    def languages(self) -> list[str]:
        """The accepted language tags with q > 0, lower case."""
        if self._languages is None:
            found = []
            for part in self.accept_language.split(","):
                tag, _, params = part.strip().partition(";")
                q = 1.0
                for param in params.split(";") if params else ():
                    name, _, number = param.strip().partition("=")
                    if name == "q":
                        try:
                            q = float(number)
                        except ValueError:
                            q = 0.0
                if tag and tag != "*" and q > 0:
                    found.append(tag)
            self._languages = found
        return self._languages

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            query = self.query_string
            self._query = parse_qs(query, keep_blank_values=True) if query else {}
        return self._query

    @property
    def devices(self) -> frozenset[str]:
        if self._devices is None:
            self._devices = device_types(self.ua)
        return self._devices


def device_types(ua: str) -> frozenset[str]:
    """The device types a user agent belongs to (Shlink's: a platform, mobile or desktop, and
    the operating system). Substring checks: the hot path cannot afford a full parser."""
    found = set()
    if "Android" in ua:
        found |= {"android", "mobile"}
    elif "iPhone" in ua or "iPad" in ua or "iPod" in ua:
        found |= {"ios", "mobile"}
    elif "Mobile" in ua:
        found.add("mobile")
    if "mobile" not in found:
        found.add("desktop")
        if "Windows" in ua:
            found.add("windows")
        elif "CrOS" in ua:
            found.add("chromeos")
        elif "Macintosh" in ua or "Mac OS X" in ua:
            found.add("macos")
        elif "Linux" in ua or "X11" in ua:
            found.add("linux")
    return frozenset(found)


def browser_of(ua: str) -> str | None:
    if "Edg/" in ua or "EdgA/" in ua or "EdgiOS/" in ua:
        return "edge"
    if "OPR/" in ua or "Opera" in ua:
        return "opera"
    if "SamsungBrowser/" in ua:
        return "samsung-internet"
    if "Firefox/" in ua or "FxiOS/" in ua:
        return "firefox"
    if "Chrome/" in ua or "CriOS/" in ua or "Chromium/" in ua:
        return "chrome"
    if "Safari/" in ua and "Version/" in ua:
        return "safari"
    return None


Predicate = Callable[[Visit], bool]


def address_number(ip: str) -> tuple[int, int] | None:
    """(version, the address as a number), by the C parser: ipaddress.ip_address costs ~10x."""
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            return version, int.from_bytes(socket.inet_pton(family, ip))
        except OSError:
            continue
    return None


def _ip_matcher(value: str) -> Predicate | None:
    if _WILDCARD.fullmatch(value) and "*" in value:
        pattern = re.compile(re.escape(value).replace(r"\*", r"[0-9]{1,3}"))
        return lambda v: bool(pattern.fullmatch(v.ip))
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    version, first = network.version, int(network.network_address)
    mask = int(network.netmask)

    def inside(visit: Visit) -> bool:
        found = visit.address
        return found is not None and found[0] == version and found[1] & mask == first

    return inside


def _predicate(condition: RuleCondition) -> Predicate:
    kind, key, value = condition.type, condition.key or "", condition.value
    if kind == "device":
        if value == "android":  # the two platforms straight from the user agent: cheaper
            return lambda v: "Android" in v.ua
        if value == "ios":
            return lambda v: "iPhone" in v.ua or "iPad" in v.ua or "iPod" in v.ua
        return lambda v: value in v.devices
    if kind == "browser":
        return lambda v: browser_of(v.ua) == value
    if kind == "language":
        wanted = value.lower()
        # A header that does not even contain the tag cannot accept it: most requests are
        # answered without parsing the header.
        if "-" in wanted:  # a region: that exact tag
            return lambda v: wanted in v.accept_language and wanted in v.languages
        prefix = wanted + "-"  # a language: any of its regions too
        return lambda v: (
            wanted in v.accept_language
            and any(t == wanted or t.startswith(prefix) for t in v.languages)
        )
    if kind == "query-param":
        return lambda v: value in v.query.get(key, ())
    if kind == "any-value-query-param":
        return lambda v: any(v.query.get(key, ()))
    if kind == "valueless-query-param":
        return lambda v: "" in v.query.get(key, ())
    if kind == "ip-address":
        matcher = _ip_matcher(value)
        assert matcher is not None  # validated
        return matcher
    if kind == "geolocation-country-code":
        country = value.upper()
        return lambda v: v.country == country
    if kind == "geolocation-city-name":
        return lambda v: False  # no city is known until a GeoIP database is configured
    moment = _datetime(value)
    assert moment is not None  # validated
    at = moment.timestamp()
    if kind == "before-date":
        return lambda v: v.now < at
    return lambda v: v.now > at  # after-date


CompiledRule = tuple[tuple[Predicate, ...], int]  # its conditions, its index in the list


def compile_rules(rules: Sequence[RedirectRule]) -> tuple[CompiledRule, ...]:
    return tuple((tuple(_predicate(c) for c in rule.conditions), i) for i, rule in enumerate(rules))


def first_match(rules: tuple[CompiledRule, ...], visit: Visit) -> int | None:
    """The index of the first rule whose every condition holds, or None."""
    for predicates, index in rules:
        for holds in predicates:  # a loop, not all(genexpr): this runs per request
            if not holds(visit):
                break
        else:
            return index
    return None
