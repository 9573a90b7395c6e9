"""The webhooks API (`/api/v1/webhooks`): a key manages its user's endpoints; an admin's key
everyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from surge.accounts.deps import CurrentKey
from surge.platform.problems import (
    NOT_FOUND,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    WEBHOOK_LIMIT,
    problem_responses,
)
from surge.webhooks.deps import WebhookServiceDep
from surge.webhooks.schemas import (
    EVENT_ID_PATTERN,
    DeliveryOut,
    Resent,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1)]
EventId = Annotated[str, Path(pattern=EVENT_ID_PATTERN)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(UNAUTHORIZED, VALIDATION_ERROR, WEBHOOK_LIMIT),
)
async def create_webhook(
    body: WebhookCreate, key: CurrentKey, webhooks: WebhookServiceDep
) -> WebhookCreated:
    """Register an endpoint (at most 25 per user, SURGE_WEBHOOK_MAX_PER_USER). The answer
    carries its `secret`, which signs every delivery: it is shown this once. A URL whose host
    does not resolve yet is taken: every delivery checks it again."""
    return WebhookCreated.made(await webhooks.create(key.user_id, key.owner_scope, body))


@router.get("", responses=problem_responses(UNAUTHORIZED))
async def list_webhooks(key: CurrentKey, webhooks: WebhookServiceDep) -> list[WebhookOut]:
    """Your endpoints (an admin's key: everyone's), oldest first."""
    return [WebhookOut.of(e) for e in await webhooks.all(key.owner_scope)]


@router.get("/{webhook_id}", responses=problem_responses(UNAUTHORIZED, NOT_FOUND))
async def get_webhook(
    webhook_id: WebhookId, key: CurrentKey, webhooks: WebhookServiceDep
) -> WebhookOut:
    return WebhookOut.of(await webhooks.get(key.owner_scope, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND),
)
async def delete_webhook(
    webhook_id: WebhookId, key: CurrentKey, webhooks: WebhookServiceDep
) -> Response:
    """The endpoint and the events it was not sent yet."""
    await webhooks.delete(key.owner_scope, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/enable", responses=problem_responses(UNAUTHORIZED, NOT_FOUND))
async def enable_webhook(
    webhook_id: WebhookId, key: CurrentKey, webhooks: WebhookServiceDep
) -> WebhookOut:
    """Enable it again (after it was disabled for failing): deliveries resume now, from the
    first event it has not received."""
    return WebhookOut.of(await webhooks.enable(key.owner_scope, webhook_id))


@router.get("/{webhook_id}/deliveries", responses=problem_responses(UNAUTHORIZED, NOT_FOUND))
async def webhook_deliveries(
    webhook_id: WebhookId,
    key: CurrentKey,
    webhooks: WebhookServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DeliveryOut]:
    """The last delivery attempts, newest first: status, latency, error, event id."""
    found = await webhooks.deliveries(key.owner_scope, webhook_id, limit)
    return [DeliveryOut.of(d) for d in found]


@router.post(
    "/{webhook_id}/deliveries/{event_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND),
)
async def resend_event(
    webhook_id: WebhookId, event_id: EventId, key: CurrentKey, webhooks: WebhookServiceDep
) -> Resent:
    """Send an event again (same id and body, a new signature), after the pending ones.
    Events delivered more than 7 days ago are no longer kept (404)."""
    await webhooks.resend(key.owner_scope, webhook_id, event_id)
    return Resent(event_id=event_id, queued=True)
