"""Request and response bodies of the public links API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from surge.data.rules import RedirectRule
from surge.links.fields import JSON_INTEGER as JSON_INTEGER
from surge.links.fields import (
    ExpiryTime,
    Flag,
    LinkPassword,
    MaxClicks,
    RedirectType,
    Slug,
    StartTime,
    Tag,
    Tags,
    Title,
)
from surge.links.fields import TargetUrl as TargetUrl
from surge.links.fields import Timestamp as Timestamp
from surge.links.repository import Link
from surge.links.rule_schemas import CLOSED, Rules
from surge.links.rule_schemas import RuleIn as RuleIn

DomainName = Annotated[
    str,
    Field(
        max_length=260,
        pattern=r"^[^\x00-\x20/?#@]+$",
        description="The short domain (host) the link is on: the default domain when absent, "
        'also named "default"; another must be added first (GET /api/v1/domains, 422 if not).',
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
    forward_query: Flag = Field(
        default=True,
        description="Merge the visitor's query string into the target's (a parameter the "
        "target sets itself keeps the target's value).",
    )
    password: LinkPassword | None = None
    title: Title | None = None
    valid_since: StartTime | None = None
    crawlable: Flag = Field(default=False, description="Listed as allowed in robots.txt.")


class LinkUpdate(BaseModel):
    """Only the fields present change; `null` clears expires_at, max_clicks, password, title
    and valid_since. url, redirect_type, tags, rules, forward_query and crawlable cannot be
    null (their types say so; absent means unchanged)."""

    model_config = CLOSED

    url: TargetUrl = None  # type: ignore[assignment]  # absent: unchanged (never validated)
    redirect_type: RedirectType = None  # type: ignore[assignment]
    expires_at: ExpiryTime | None = None
    max_clicks: MaxClicks | None = None
    tags: Tags = None  # type: ignore[assignment]
    domain: DomainName = None  # type: ignore[assignment]  # absent: stays; moves it otherwise
    rules: Rules = None  # type: ignore[assignment]  # absent: unchanged; [] removes them
    forward_query: Flag = None  # type: ignore[assignment]
    password: LinkPassword | None = None  # null: no longer protected
    title: Title | None = None
    valid_since: StartTime | None = None
    crawlable: Flag = None  # type: ignore[assignment]


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
    forward_query: bool
    password_protected: bool
    title: str | None
    valid_since: datetime | None
    crawlable: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def default_host(public_url: str) -> str:
        """The default domain's host, as `domain` names it."""
        return urlsplit(public_url).hostname or ""

    @classmethod
    def of(cls, link: Link, public_url: str) -> LinkOut:
        values = link.values
        if link.domain:
            short_url = f"{urlsplit(public_url).scheme}://{link.domain}/{link.slug}"
        else:
            short_url = f"{public_url}/{link.slug}"
        return cls(
            slug=link.slug,
            domain=link.domain or cls.default_host(public_url),
            short_url=short_url,
            url=values.url,
            redirect_type=values.redirect_type,
            expires_at=values.expires_at,
            max_clicks=values.max_clicks,
            tags=list(values.tags),
            rules=list(values.rules),
            forward_query=values.forward_query,
            password_protected=values.password_hash is not None,
            title=values.title,
            valid_since=values.valid_since,
            crawlable=values.crawlable,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None


class DeletedLinkVisits(BaseModel):
    deleted_visits: int  # the clicks its stats counted (bots and imported ones too)
