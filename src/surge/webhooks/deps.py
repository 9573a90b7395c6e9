"""The webhook service as a FastAPI dependency, for every door."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.webhooks.service import WebhookService


async def get_webhook_service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhook_service
    return service


WebhookServiceDep = Annotated[WebhookService, Depends(get_webhook_service)]
