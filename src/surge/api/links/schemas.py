"""Request and response bodies of the public links API, with their validation rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from surge.api.links.repository import Link
from surge.api.links.slugs import slug_problem

RedirectType = Literal[301, 302, 307, 308]
MAX_URL_LENGTH = 2048
_FORBIDDEN_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
TAG_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_CLICKS_LIMIT = 2**31 - 1  # links.max_clicks is a 32-bit INTEGER on PostgreSQL


def _check_url(url: str) -> str:
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"a URL is at most {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_URL_CHARS.search(url):
        raise ValueError("a URL may not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs can be shortened")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError("the URL's host or port is malformed") from exc
    if not host:
        raise ValueError("the URL has no host")
    return url


def _check_slug(slug: str) -> str:
    problem = slug_problem(slug)
    if problem:
        raise ValueError(problem)
    return slug


def _check_future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("expires_at needs a time zone, e.g. 2030-01-01T00:00:00Z")
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValueError("expires_at is out of range") from exc
    if value <= datetime.now(UTC):
        raise ValueError("expires_at must be in the future")
    return value


TargetUrl = Annotated[str, AfterValidator(_check_url)]
Slug = Annotated[str, AfterValidator(_check_slug)]
FutureTime = Annotated[datetime | None, AfterValidator(_check_future)]
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]
Tags = Annotated[list[Tag], Field(max_length=20)]
# strict: JSON `true` or "5" is a mistake, not a click limit.
MaxClicks = Annotated[int, Field(ge=1, le=MAX_CLICKS_LIMIT, strict=True)]


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: TargetUrl
    slug: Slug | None = None
    redirect_type: RedirectType = 302
    expires_at: FutureTime = None
    max_clicks: MaxClicks | None = None
    tags: Tags = Field(default_factory=list)


class LinkUpdate(BaseModel):
    """Only the fields present change; `null` clears expires_at / max_clicks."""

    model_config = ConfigDict(extra="forbid")

    url: TargetUrl | None = None
    redirect_type: RedirectType | None = None
    expires_at: FutureTime = None
    max_clicks: MaxClicks | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _only_clearable_fields_take_null(self) -> LinkUpdate:
        for name in ("url", "redirect_type", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class LinkOut(BaseModel):
    slug: str
    short_url: str
    url: str
    redirect_type: int
    expires_at: datetime | None
    max_clicks: int | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: Link, public_url: str) -> LinkOut:
        values = link.values
        return cls(
            slug=link.slug,
            short_url=f"{public_url}/{link.slug}",
            url=values.url,
            redirect_type=values.redirect_type,
            expires_at=values.expires_at,
            max_clicks=values.max_clicks,
            tags=list(values.tags),
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None
