"""Bodies of the webhooks API (`/api/v1/webhooks`), shared by every door."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from surge.links.fields import (
    _HOST_CHAR,
    _NOT_IN_URL,
    _PORT,
    MAX_URL_LENGTH,
    SLUG_JSON_PATTERN,
    TAG_PATTERN,
)
from surge.webhooks.repository import Delivery, Endpoint

EventType = Literal["link.created", "link.updated", "link.deleted", "link.clicked"]
# http(s), a host with at least two labels or an IP address (IPv6 in brackets), an optional
# port, no user:password@, no whitespace or control characters. What it may not reach is
# checked beyond this (surge.webhooks.addresses).
WEBHOOK_URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:(?:{_HOST_CHAR}+\.)+{_HOST_CHAR}+|\[[0-9A-Fa-f:.]+\])"
    rf"(?::{_PORT})?(?:[/?#][^{_NOT_IN_URL}]*)?$"
)
EVENT_ID_PATTERN = r"^[0-9a-f]{32}$"


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        pattern=WEBHOOK_URL_PATTERN,
        description="Where events are POSTed: http(s), not at a loopback, private or "
        "link-local address or a local name, now or when a delivery resolves it (422; an "
        "operator may allow named hosts, SURGE_WEBHOOK_ALLOWED_HOSTS).",
    )
    events: Annotated[list[EventType], Field(min_length=1, max_length=4)]
    link_slug: str | None = Field(
        default=None,
        pattern=SLUG_JSON_PATTERN,
        description="Only this link's events (one of yours; 422 if there is none).",
    )
    link_domain: str | None = Field(
        default=None,
        max_length=260,
        pattern=r"^[^\x00-\x20/?#@]+$",
        description="The domain of `link_slug` (default: the default domain).",
    )
    tag: str | None = Field(
        default=None, pattern=TAG_PATTERN, description="Only events of links with this tag."
    )

    @model_validator(mode="after")
    def _one_filter(self) -> WebhookCreate:
        if self.link_slug is not None and self.tag is not None:
            raise ValueError("filter by link_slug or by tag, not both")
        if self.link_domain is not None and self.link_slug is None:
            raise ValueError("link_domain goes with link_slug")
        return self


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    link_id: int | None = Field(description="Only this link's events (null: no link filter).")
    link_slug: str | None = Field(description="That link's slug (null once it is deleted).")
    tag: str | None = Field(description="Only events of links with this tag.")
    enabled: bool
    disabled_reason: str | None = Field(description="Why deliveries stopped (null: enabled).")
    consecutive_failures: int
    pending: int = Field(description="Events not yet delivered.")
    created_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> WebhookOut:
        return cls(**_fields(endpoint))


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256). Shown only now: keep it.")

    @classmethod
    def made(cls, endpoint: Endpoint) -> WebhookCreated:
        return cls(**_fields(endpoint), secret=endpoint.secret)


def _fields(endpoint: Endpoint) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "link_id": endpoint.link_id,
        "link_slug": endpoint.link_slug,
        "tag": endpoint.tag,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "pending": endpoint.pending,
        "created_at": endpoint.created_at,
    }


class DeliveryOut(BaseModel):
    event_id: str
    type: str
    attempted_at: datetime
    ok: bool
    status_code: int | None = Field(description="The receiver's answer (null: none came).")
    latency_ms: int
    error: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            event_id=delivery.event_id,
            type=delivery.type,
            attempted_at=delivery.attempted_at,
            ok=delivery.ok,
            status_code=delivery.status_code,
            latency_ms=delivery.latency_ms,
            error=delivery.error,
        )


class Resent(BaseModel):
    event_id: str
    queued: bool = Field(description="Queued again, after the endpoint's pending events.")
