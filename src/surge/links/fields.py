"""The fields of the links API's bodies, with their validation rules (links, rules, Shlink)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema

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


RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Only what `format: date-time` says: an RFC 3339 string with its offset (pydantic alone
    would also take a number of seconds since 1970, or a date)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
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
        raise ValueError("a time needs a time zone, e.g. 2030-01-01T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValueError("the time is out of range") from exc


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
MAX_TAGS_PER_LINK = 20
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS_PER_LINK)]
# JSON `true` or "5" is a mistake, not a click limit.
MaxClicks = Annotated[int, Field(ge=1, le=MAX_CLICKS_LIMIT), JSON_INTEGER]
# Before it the link answers as an unknown slug would (Shlink's validSince).
StartTime = Annotated[
    Timestamp,
    AfterValidator(_utc),
    Field(description="When the link starts redirecting; before it, it answers 404."),
]
LinkPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="Write-only: visitors must enter it before they are redirected (stored as "
        "an argon2 hash; reads say `password_protected`). null removes it.",
    ),
]
# Any text but NUL, which PostgreSQL's text refuses (the fuzz found a 500 there).
Title = Annotated[str, Field(max_length=512, pattern=r"^[^\x00]*$")]
# JSON true or false only ("yes" or 1 is a mistake).
Flag = Annotated[bool, Field(strict=True)]
