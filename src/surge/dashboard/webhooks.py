"""Dashboard page of webhooks (`/app/webhooks`): a user's endpoints (an admin's: everyone's),
each with its last deliveries; register one (its secret shown this once), delete, enable
again, send an event again. The same WebhookService and request body as the webhooks API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.responses import Response

from surge.accounts.user_repository import User
from surge.dashboard.pages import (
    CheckedForm,
    SignedIn,
    error_status,
    form_errors,
    render,
    see_other,
)
from surge.platform.problems import ProblemError
from surge.webhooks.deps import WebhookServiceDep
from surge.webhooks.events import EVENT_TYPES
from surge.webhooks.repository import Endpoint
from surge.webhooks.schemas import EVENT_ID_PATTERN, WebhookCreate
from surge.webhooks.service import WebhookService

router = APIRouter(prefix="/app/webhooks", include_in_schema=False)
PAGE = "/app/webhooks"
DELIVERIES_SHOWN = 5
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1)]
EventId = Annotated[str, Path(pattern=EVENT_ID_PATTERN)]
LABELS = {"url": "URL", "events": "Events", "link": "Only the link", "tag": "Only the tag"}


async def _page(
    request: Request,
    user: User,
    webhooks: WebhookService,
    status: int = 200,
    *,
    created: Endpoint | None = None,
    values: dict[str, object] | None = None,
    refusal: ValidationError | ProblemError | None = None,
) -> Response:
    endpoints = await webhooks.all(user.owner_scope)
    deliveries = {
        e.id: await webhooks.deliveries(user.owner_scope, e.id, DELIVERIES_SHOWN) for e in endpoints
    }
    return render(
        request,
        "webhooks.html",
        user,
        status,
        endpoints=endpoints,
        deliveries=deliveries,
        created=created,
        values=values or {"events": list(EVENT_TYPES)},
        event_types=EVENT_TYPES,
        errors=form_errors(refusal, LABELS) if refusal else [],
    )


@router.get("")
async def webhook_list(request: Request, user: SignedIn, webhooks: WebhookServiceDep) -> Response:
    return await _page(request, user, webhooks)


@router.post("", dependencies=[CheckedForm])
async def webhook_create(request: Request, user: SignedIn, webhooks: WebhookServiceDep) -> Response:
    form = await request.form()
    values: dict[str, object] = {
        "url": str(form.get("url", "")).strip(),
        "events": [str(e) for e in form.getlist("events")],
        "link": str(form.get("link", "")).strip() or None,
        "tag": str(form.get("tag", "")).strip() or None,
    }
    try:
        made = await webhooks.create(
            user.id, user.owner_scope, WebhookCreate.model_validate(values)
        )
    except (ValidationError, ProblemError) as exc:
        return await _page(request, user, webhooks, error_status(exc), values=values, refusal=exc)
    # Shown here, once: the secret is never put in a redirect or a session.
    return await _page(request, user, webhooks, 201, created=made)


@router.post("/{webhook_id}/delete", dependencies=[CheckedForm])
async def webhook_delete(
    webhook_id: WebhookId, user: SignedIn, webhooks: WebhookServiceDep
) -> Response:
    await webhooks.delete(user.owner_scope, webhook_id)
    return see_other(PAGE)


@router.post("/{webhook_id}/enable", dependencies=[CheckedForm])
async def webhook_enable(
    webhook_id: WebhookId, user: SignedIn, webhooks: WebhookServiceDep
) -> Response:
    await webhooks.enable(user.owner_scope, webhook_id)
    return see_other(f"{PAGE}#webhook-{webhook_id}")


@router.post("/{webhook_id}/deliveries/{event_id}/resend", dependencies=[CheckedForm])
async def webhook_resend(
    webhook_id: WebhookId, event_id: EventId, user: SignedIn, webhooks: WebhookServiceDep
) -> Response:
    await webhooks.resend(user.owner_scope, webhook_id, event_id)
    return see_other(f"{PAGE}#webhook-{webhook_id}")
