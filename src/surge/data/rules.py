"""Redirect rules, with Shlink 4's semantics: an ordered list per link, each a target and one or
more conditions that must all hold; the first rule that matches wins, else the link's own URL.

What the api validates (`condition_problem`) and what the redirect evaluates live together so
the two never disagree: the parsers here (`ip_condition`, `moment_of`, `device_types`,
`browser_of`) serve both, and the redirect's evaluation (rule_matching.compile_rules, reading
the request through rule_inputs) is built on them. Evaluation reads only the request and the
clock: no I/O, on the cached entry. Only the standard library and pydantic (the redirect
imports this).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Literal

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
    if kind == "ip-address" and ip_condition(value) is None:
        return (
            "ip-address is an address, a CIDR block (10.0.0.0/8, 2001:db8::/32) or a "
            "wildcard (192.168.*.*)"
        )
    if kind in ("before-date", "after-date") and moment_of(value) is None:
        return f"{kind} is a date-time with a time zone, such as 2030-01-01T00:00:00Z"
    return None


# --- what the redirect reads of a request -----------------------------------------------------


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


def accepted_languages(header: str) -> list[str]:
    """An Accept-Language header's tags with q > 0, lower case, in its order."""
    found = []
    for part in header.lower().split(","):
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
    return found


IpCondition = re.Pattern[str] | ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_condition(value: str) -> IpCondition | None:
    """What an ip-address condition's value names: a wildcard's pattern (192.168.*.*, each `*`
    any one to three digits), a network (an address is a /32 or /128), or None: neither."""
    if _WILDCARD.fullmatch(value) and "*" in value:
        return re.compile(re.escape(value).replace(r"\*", r"[0-9]{1,3}"))
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def moment_of(value: str) -> datetime | None:
    """A date condition's instant: an ISO date-time with a time zone, else None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
