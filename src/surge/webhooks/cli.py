"""What `surge webhooks` runs: the webhook service as an operator (every endpoint), with a link
service to find a filter's link (it never calls analytics or the redirects for that)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import ValidationError

from surge.accounts.commands import user_by_email
from surge.cli_support import CliError, current_sessions
from surge.domains.service import DomainService
from surge.links.analytics_client import LinkChangeNotifier, VisitsClient
from surge.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.db import SessionMaker
from surge.platform.http import internal_client
from surge.platform.problems import ProblemError
from surge.webhooks.repository import Delivery, Endpoint
from surge.webhooks.schemas import WebhookCreate
from surge.webhooks.service import WebhookService


@asynccontextmanager
async def webhook_service(settings: Settings) -> AsyncIterator[tuple[WebhookService, SessionMaker]]:
    async with current_sessions(settings) as sessions:
        notifier = LinkChangeNotifier([], None)
        domains = DomainService(settings, sessions, notifier)
        client = internal_client(
            settings.analytics_url, settings.internal_token, timeout_s=settings.internal_timeout_s
        )
        try:
            links = LinkService(settings, sessions, notifier, VisitsClient(client), domains)
            yield WebhookService(settings, sessions, links), sessions
        finally:
            await client.aclose()


HEADER = f"{'id':>5}  {'owner':<10}  {'pending':>7}  {'failures':>8}  url  [events]  state"


def _line(e: Endpoint) -> str:
    state = "enabled" if e.enabled else f"disabled: {e.disabled_reason}"
    only = f" link={e.link_slug or e.link_id}" if e.link_id else ""
    only += f" tag={e.tag}" if e.tag else ""
    return (
        f"{e.id:>5}  user {e.owner_id:<5}  {e.pending:>7}  {e.consecutive_failures:>8}  "
        f"{e.url}  [{','.join(e.events)}]{only}  {state}"
    )


def _attempt(d: Delivery) -> str:
    status = d.status_code if d.status_code is not None else "-"
    outcome = "ok" if d.ok else (d.error or "failed")
    return (
        f"{d.attempted_at:%Y-%m-%d %H:%M:%S}  {d.event_id}  {d.type:<13}  {status!s:>4}  "
        f"{d.latency_ms:>6} ms  {outcome}"
    )


async def run_webhooks(settings: Settings, args: argparse.Namespace) -> str:
    command = args.webhooks_command
    try:
        async with webhook_service(settings) as (webhooks, sessions):
            if command == "create":
                owner = await user_by_email(sessions, args.user)
                try:
                    body = WebhookCreate(
                        url=args.url,
                        events=[e.strip() for e in args.events.split(",") if e.strip()],
                        link=args.link,
                        tag=args.tag,
                    )
                except ValidationError as exc:
                    error = exc.errors()[0]
                    where = ".".join(str(part) for part in error["loc"]) or "arguments"
                    raise CliError(f"{where}: {error['msg']}") from None
                made = await webhooks.create(owner.id, owner.owner_scope, body)
                return (
                    f"created webhook {made.id} for {made.url}\nsecret (shown once): {made.secret}"
                )
            if command == "list":
                scope = (await user_by_email(sessions, args.user)).id if args.user else None
                return "\n".join([HEADER, *(_line(e) for e in await webhooks.all(scope))])
            if command == "delete":
                await webhooks.delete(None, args.id)
                return f"deleted webhook {args.id}"
            if command == "enable":
                return _line(await webhooks.enable(None, args.id))
            attempts = await webhooks.deliveries(None, args.id, max(1, args.limit))
            return "\n".join(_attempt(d) for d in attempts) or "no delivery attempts yet"
    except ProblemError as exc:
        raise CliError(exc.detail or exc.problem.title) from None
