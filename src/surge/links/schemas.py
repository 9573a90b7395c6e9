"""Request and response bodies of the public links API, with their validation rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from surge.data.rules import (
    MAX_CONDITIONS,
    MAX_RULES,
    RedirectRule,
    RuleCondition,
    condition_problem,
)
from surge.links.repository import Link
from surge.links.slugs import RESERVED_SLUGS, slug_problem

RedirectType = Literal[301, 302, 307, 308]
MAX_URL_LENGTH = 2048
# What a link may point at, exactly as the OpenAPI description states it (JSON Schema
# `pattern`): http or https, no user:password@ (a classic way to disguise the real host), a
# domain name whose last label starts with a letter (so no literal IP address, which a browser
# would also take `http://2130706433/` for), an optional port 0-65535, and the rest without
# whitespace or control characters. Non-ASCII host names and paths are fine (they are
# percent-encoded on the way out).
# Spelled out rather than `\s`, which Python and JavaScript (JSON Schema) read differently:
# ASCII and C1 control characters, the space, and Unicode's other spaces.
_NOT_IN_URL = r"\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_HOST_CHAR = rf"[^{_NOT_IN_URL}/?#@:\[\]\\.%<>^|]"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_HOST_CHAR}+\.)+[A-Za-z][A-Za-z0-9-]*"
    rf"(?::{_PORT})?(?:[/?#][^{_NOT_IN_URL}]*)?$"
)
_URL = re.compile(URL_PATTERN)
TAG_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
SLUG_JSON_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_CLICKS_LIMIT = 2**31 - 1  # links.max_clicks is a 32-bit INTEGER on PostgreSQL


def _check_url(url: str) -> str:
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"a URL is at most {MAX_URL_LENGTH} characters")
    if not _URL.fullmatch(url):
        raise ValueError(
            "only http(s) URLs with a domain name, without user:password@, whitespace or "
            "control characters, can be shortened"
        )
    return url


def _check_slug(slug: str) -> str:
    problem = slug_problem(slug)
    if problem:
        raise ValueError(problem)
    return slug


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Only what `format: date-time` says: an RFC 3339 string with its offset (pydantic alone
    would also take a number of seconds since 1970, or a date)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "expected an RFC 3339 date-time with a time zone, e.g. 2030-01-01T00:00:00Z"
        )
    return value


def _json_integer(value: object) -> object:
    """What JSON Schema calls an integer: 5 or 5.0, never true or "5"."""
    if isinstance(value, bool | str):
        raise ValueError("expected an integer")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
JSON_INTEGER = BeforeValidator(_json_integer)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("expires_at needs a time zone, e.g. 2030-01-01T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValueError("expires_at is out of range") from exc


TargetUrl = Annotated[
    str,
    AfterValidator(_check_url),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": URL_PATTERN,
            "maxLength": MAX_URL_LENGTH,
            "description": "Where the link goes. Also refused (422): this Surge's own short "
            "domain, local names (localhost, *.local, *.internal, ...), and hosts on the "
            "operator's blocklist.",
        }
    ),
]
Slug = Annotated[
    str,
    AfterValidator(_check_slug),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SLUG_JSON_PATTERN,
            "description": "A custom slug; a few names the services use themselves "
            f"({', '.join(sorted(RESERVED_SLUGS))}) are reserved (422).",
        }
    ),
]
# With a time zone; a time in the past makes the link expire at once (410 from then on).
ExpiryTime = Annotated[
    Timestamp,
    AfterValidator(_utc),
    Field(description="When the link stops redirecting (410); past times expire it at once."),
]
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]
Tags = Annotated[list[Tag], Field(max_length=20)]
# JSON `true` or "5" is a mistake, not a click limit.
MaxClicks = Annotated[int, Field(ge=1, le=MAX_CLICKS_LIMIT), JSON_INTEGER]


DomainName = Annotated[
    str,
    Field(
        max_length=260,
        pattern=r"^[^\x00-\x20/?#@]+$",
        description="The short domain (host) the link is on: the default domain when absent, "
        'also named "default"; another must be added first (GET /api/v1/domains, 422 if not).',
    ),
]

CLOSED = ConfigDict(extra="forbid")


class _Condition(BaseModel):
    model_config = CLOSED

    key: None = None  # only the query types name a parameter

    def condition(self) -> RuleCondition:
        return RuleCondition(type=self.type, key=self.key, value=self.value)  # type: ignore[attr-defined]


class DeviceCondition(_Condition):
    type: Literal["device"]
    value: Literal["android", "ios", "mobile", "desktop", "windows", "macos", "linux", "chromeos"]


class BrowserCondition(_Condition):
    type: Literal["browser"]
    value: Literal["chrome", "firefox", "safari", "edge", "opera", "samsung-internet"]


class LanguageCondition(_Condition):
    type: Literal["language"]
    value: str = Field(
        pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$",
        description="de: German in any region; de-AT: that region only.",
    )


class QueryValueCondition(_Condition):
    type: Literal["query-param"]
    key: str = Field(min_length=1, max_length=100)  # type: ignore[assignment]
    value: str = Field(min_length=1, max_length=200, description="What the parameter equals.")


class QueryKeyCondition(_Condition):
    type: Literal["any-value-query-param", "valueless-query-param"]
    key: str = Field(min_length=1, max_length=100)  # type: ignore[assignment]
    value: Literal[""] = ""


class IpCondition(_Condition):
    type: Literal["ip-address"]
    value: str = Field(
        pattern=r"^[0-9A-Fa-f:.*]+(/[0-9]{1,3})?$",
        max_length=49,
        description="An address, a CIDR block (10.0.0.0/8, 2001:db8::/32) or an IPv4 "
        "wildcard (192.168.*.*).",
    )


class CountryCondition(_Condition):
    type: Literal["geolocation-country-code"]
    value: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2.")


class CityCondition(_Condition):
    type: Literal["geolocation-city-name"]
    value: str = Field(min_length=1, max_length=200, pattern=r"\S")


class DateCondition(_Condition):
    type: Literal["before-date", "after-date"]
    value: str = Field(pattern=_RFC3339.pattern.join("^$"), description="RFC 3339, with its zone.")


ConditionIn = Annotated[
    DeviceCondition
    | BrowserCondition
    | LanguageCondition
    | QueryValueCondition
    | QueryKeyCondition
    | IpCondition
    | CountryCondition
    | CityCondition
    | DateCondition,
    # Not a discriminated union: its JSON Schema would be a oneOf that fuzzers mutate branch
    # by branch; as anyOf, a condition is valid when one of the types takes it.
    Field(union_mode="left_to_right"),
]


class RuleIn(BaseModel):
    """A redirect rule as a request sends it: where matching requests go, and the conditions
    that must all hold (see surge.data.rules for what each type matches)."""

    model_config = CLOSED

    url: TargetUrl
    conditions: list[ConditionIn] = Field(min_length=1, max_length=MAX_CONDITIONS)

    @model_validator(mode="after")
    def _evaluable(self) -> RuleIn:
        for i, condition in enumerate(self.conditions):
            problem = condition_problem(condition.condition())
            if problem:  # what a pattern cannot say: a CIDR's prefix length, a real date
                raise ValueError(f"conditions[{i}]: {problem}")
        return self

    def rule(self) -> RedirectRule:
        return RedirectRule(url=self.url, conditions=[c.condition() for c in self.conditions])


Rules = Annotated[
    list[RuleIn],
    Field(
        max_length=MAX_RULES,
        description="Redirect rules, in order: a request goes to the first rule whose "
        "conditions all hold, else to `url`; `key` names the query parameter of the query "
        "types.",
    ),
]


class LinkCreate(BaseModel):
    model_config = CLOSED

    url: TargetUrl
    slug: Slug | None = None
    redirect_type: RedirectType = 302
    expires_at: ExpiryTime | None = None
    max_clicks: MaxClicks | None = None
    tags: Tags = Field(default_factory=list)
    domain: DomainName | None = None
    rules: Rules = Field(default_factory=list)


class LinkUpdate(BaseModel):
    """Only the fields present change; `null` clears expires_at / max_clicks. url,
    redirect_type and tags cannot be null (their types say so; absent means unchanged)."""

    model_config = CLOSED

    url: TargetUrl = None  # type: ignore[assignment]  # absent: unchanged (never validated)
    redirect_type: RedirectType = None  # type: ignore[assignment]
    expires_at: ExpiryTime | None = None
    max_clicks: MaxClicks | None = None
    tags: Tags = None  # type: ignore[assignment]
    domain: DomainName = None  # type: ignore[assignment]  # absent: stays; moves it otherwise
    rules: Rules = None  # type: ignore[assignment]  # absent: unchanged; [] removes them


class TagRename(BaseModel):
    """A tag's new name: it replaces the old one on every link that has it."""

    model_config = CLOSED

    name: Tag


class LinkOut(BaseModel):
    slug: str
    domain: str
    short_url: str
    url: str
    redirect_type: int
    expires_at: datetime | None
    max_clicks: int | None
    tags: list[str]
    rules: list[RedirectRule]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: Link, public_url: str) -> LinkOut:
        values = link.values
        public = urlsplit(public_url)
        if link.domain:
            short_url = f"{public.scheme}://{link.domain}/{link.slug}"
        else:
            short_url = f"{public_url}/{link.slug}"
        return cls(
            slug=link.slug,
            domain=link.domain or (public.hostname or ""),
            short_url=short_url,
            url=values.url,
            redirect_type=values.redirect_type,
            expires_at=values.expires_at,
            max_clicks=values.max_clicks,
            tags=list(values.tags),
            rules=list(values.rules),
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None
