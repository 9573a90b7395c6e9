"""The live panel's stream: `GET /app/live` answers server-sent events (`text/event-stream`)
with the clicks analytics counts while the page is open (links/live.py).

`?slug=` (and `?domain=`): one link the signed-in user may see; without: all their links, and
for an admin with `?every=1` everyone's. Events: `ready` once subscribed, then `clicks` as they
come; a comment line every `heartbeat_s`. Refusals are problem+json, not pages: the browser's
EventSource reads no HTML (401 signed out, 404 not their link, 429 too many open).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.responses import Response

from surge.accounts.deps import UserServiceDep
from surge.dashboard.pages import on_other_domain, templates
from surge.dashboard.sessions import current_user
from surge.links.deps import LinkServiceDep
from surge.links.live import LinkRef, LiveStream, LiveStreams, LiveStreamsDep, LiveUpdate, Watch
from surge.links.schemas import LinkOut
from surge.platform.deps import SettingsDep
from surge.platform.problems import UNAUTHORIZED, ProblemError

router = APIRouter(prefix="/app", include_in_schema=False)
RETRY_MS = 3000  # how long a browser waits before it reconnects a dropped stream


def live_path(request: Request, link: LinkOut | None = None, every: bool = False) -> str:
    """The stream a panel listens to: one link's, or (no link) all the user's links."""
    query: dict[str, str] = {}
    if link is not None:
        query["slug"] = link.slug
        if on_other_domain(request, link):
            query["domain"] = link.domain
    elif every:
        query["every"] = "1"
    return f"/app/live?{urlencode(query)}" if query else "/app/live"


templates.env.globals["live_path"] = live_path


def _link_page(ref: LinkRef) -> str:
    suffix = f"?{urlencode({'domain': ref.domain})}" if ref.domain else ""
    return f"/app/links/{ref.slug}{suffix}"


def update_json(update: LiveUpdate) -> str:
    recent: list[dict[str, Any]] = []
    for click, ref in update.recent:
        row: dict[str, Any] = {
            "at": click.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "country": click.country,
            "referrer": click.referrer,
            "device": click.device,
            "bot": click.bot,
        }
        if ref is not None:
            row |= {"link": ref.slug, "href": _link_page(ref)}
        recent.append(row)
    body = {"clicks": update.clicks, "bots": update.bots, "missed": update.missed, "recent": recent}
    return orjson.dumps(body).decode()


async def _events(streams: LiveStreams, stream: LiveStream) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(data="{}", event="ready", retry=RETRY_MS)
    async for update in streams.updates(stream):
        yield ServerSentEvent(data=update_json(update), event="clicks")


def _heartbeat() -> ServerSentEvent:
    return ServerSentEvent(comment="heartbeat")


@router.get("/live")
async def live(
    request: Request,
    users: UserServiceDep,
    settings: SettingsDep,
    links: LinkServiceDep,
    streams: LiveStreamsDep,
    slug: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    domain: Annotated[str | None, Query(max_length=260)] = None,
    every: bool = False,
) -> Response:
    try:
        user = await current_user(request, users, settings.session_ttl_hours * 3600)
        if user is None:
            raise UNAUTHORIZED("Sign in to watch clicks live.")
        if slug is not None:
            link = await links.get(user.owner_scope, slug, domain)
            watch = Watch(user.id, link_id=link.id)
        else:
            watch = Watch(user.id, owner_id=None if every and user.is_admin else user.id)
        stream = streams.open(watch)
    except ProblemError as exc:
        return exc.response()
    return EventSourceResponse(
        _events(streams, stream),
        ping=streams.heartbeat_s,
        ping_message_factory=_heartbeat,
        background=BackgroundTask(streams.release, stream),
    )
