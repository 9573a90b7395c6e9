"""Bodies of the webhooks API (`/api/v1/webhooks`), shared by every door."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from surge.links.fields import _NOT_IN_URL, _PORT, MAX_URL_LENGTH, TAG_PATTERN
from surge.webhooks.repository import Delivery, Endpoint

EventType = Literal["link.created", "link.updated", "link.deleted", "link.clicked"]
# http(s); a host name of ASCII labels (an IDN in its punycode form), at least two, the last
# starting with a letter, or an IPv4 address (an IPv6 receiver goes by its name); an optional
# port; no user:password@, whitespace or control characters. What it may not reach is checked
# beyond this (surge.webhooks.addresses).
WEBHOOK_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:(?:[A-Za-z0-9_-]+\.)+[A-Za-z][A-Za-z0-9-]*|(?:[0-9]{1,3}\.){3}[0-9]{1,3})"
    rf"(?::{_PORT})?(?:[/?#][^{_NOT_IN_URL}]*)?$"
)
# A link as a filter names it: its slug on the default domain, or "domain/slug".
LINK_FILTER_PATTERN = r"^(?:[^\x00-\x20/?#@]{1,253}/)?[A-Za-z0-9_-]{1,64}$"
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
    link: str | None = Field(
        default=None,
        pattern=LINK_FILTER_PATTERN,
        description="Only this link's events: its slug (on the default domain) or "
        "`domain/slug`; one of yours (422 if there is none).",
    )
    tag: str | None = Field(
        default=None,
        pattern=TAG_PATTERN,
        description="Only events of links with this tag (with `link`: both must match).",
    )


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
