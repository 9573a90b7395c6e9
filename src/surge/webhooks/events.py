"""What a webhook delivers: the event types, the body, and its signature.

The body is `{"id", "type", "created_at", "data"}` as JSON, made once when the event is written
to the outbox and delivered byte for byte each time. The signature is HMAC-SHA256, with the
endpoint's secret, over `f"{timestamp}.{body}"` (the timestamp of that try, in unix seconds),
sent as `Surge-Webhook-Signature: v1=<hex>`: a receiver checks it and refuses old timestamps,
so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

import orjson

LINK_CREATED = "link.created"
LINK_UPDATED = "link.updated"
LINK_DELETED = "link.deleted"
LINK_CLICKED = "link.clicked"
EVENT_TYPES = (LINK_CREATED, LINK_UPDATED, LINK_DELETED, LINK_CLICKED)

ID_HEADER = "Surge-Webhook-Id"
TIMESTAMP_HEADER = "Surge-Webhook-Timestamp"
SIGNATURE_HEADER = "Surge-Webhook-Signature"
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_event_id() -> str:
    return uuid.uuid4().hex


def event_body(event_id: str, event_type: str, created_at: datetime, data: Any) -> str:
    """The JSON a receiver gets, as text (the outbox keeps it so)."""
    body = {"id": event_id, "type": event_type, "created_at": created_at, "data": data}
    return orjson.dumps(body).decode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `{timestamp}.{body}` keyed with the secret's UTF-8 bytes."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={signature(secret, timestamp, body)}",
    }


def events_column(events: list[str] | tuple[str, ...]) -> str:
    """Event types as the endpoints table keeps them: ",a,b," (a LIKE '%,a,%' finds one)."""
    return "," + ",".join(sorted(set(events))) + ","


def events_of(column: str) -> list[str]:
    return [e for e in column.split(",") if e]


def subscribed(event_type: str) -> str:
    """The LIKE pattern of endpoints that take `event_type` (its name holds no wildcard)."""
    return f"%,{event_type},%"
