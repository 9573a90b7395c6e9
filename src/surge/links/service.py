"""Links business logic. Each public method is one unit of work: the one place that commits."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from surge.data.contracts import ResolvedLink
from surge.links.notify import AnalyticsClient, LinkChangeNotifier
from surge.links.repository import Link, LinkRepository, SlugTaken
from surge.links.schemas import LinkCreate, LinkOut, LinkPage, LinkUpdate
from surge.links.slugs import random_slug
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.problems import ProblemError, not_found

RANDOM_SLUG_ATTEMPTS = 8
MAX_LINK_ID = 2**63 - 1  # a cursor beyond any BIGINT id is not one we handed out


def validation_problem(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "Invalid request",
        f"{field}: {message}",
        errors=[{"loc": ["body", field], "msg": message}],
    )


def encode_cursor(link_id: int) -> str:
    return base64.urlsafe_b64encode(str(link_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    invalid = ProblemError(400, "invalid-cursor", "Invalid cursor", "Use next_cursor as given.")
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not 1 <= value <= MAX_LINK_ID:
        raise invalid
    return value


def _host_key(host: str | None) -> str:
    """A host as a browser resolves it: percent-decoded, IDNA-mapped, lower case, no final dot."""
    host = unquote(host or "")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.lower().rstrip(".")


def resolved(link: Link, *, clicks: int) -> ResolvedLink:
    return ResolvedLink(
        link_id=link.id,
        slug=link.slug,
        url=link.url,
        redirect_type=link.redirect_type,
        expires_at=link.expires_at,
        max_clicks=link.max_clicks,
        clicks=clicks,
    )


class LinkService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionMaker,
        notifier: LinkChangeNotifier,
        analytics: AnalyticsClient,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.notifier = notifier
        self.analytics = analytics

    def to_out(self, link: Link) -> LinkOut:
        return LinkOut(
            slug=link.slug,
            short_url=f"{self.settings.public_url}/{link.slug}",
            url=link.url,
            redirect_type=link.redirect_type,
            expires_at=link.expires_at,
            max_clicks=link.max_clicks,
            tags=list(link.tags),
            created_at=link.created_at,
            updated_at=link.updated_at,
        )

    def _refuse_self_link(self, url: str) -> None:
        if _host_key(urlsplit(url).hostname) == _host_key(self.settings.public_host):
            raise validation_problem(
                "url", "a link may not point back at this Surge's short domain"
            )

    async def create(self, owner_id: int, body: LinkCreate) -> LinkOut:
        self._refuse_self_link(body.url)
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "url": body.url,
            "redirect_type": body.redirect_type,
            "owner_id": owner_id,
            "expires_at": body.expires_at,
            "max_clicks": body.max_clicks,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(1 if body.slug else RANDOM_SLUG_ATTEMPTS):
            values["slug"] = body.slug or random_slug()
            try:
                async with transaction(self.sessions) as session:
                    link = await LinkRepository(session).add(values, body.tags)
            except SlugTaken:
                continue
            # A cached "unknown slug" must not outlive the link's creation.
            await self.notifier.link_changed(link.slug, resolved(link, clicks=0))
            return self.to_out(link)
        if body.slug:
            raise ProblemError(409, "slug-taken", "Slug taken", f"The slug '{body.slug}' is taken.")
        raise ProblemError(503, "slug-space-busy", "Try again", "Could not find a free slug.")

    async def get(self, owner_id: int, slug: str) -> LinkOut:
        async with self.sessions() as session:
            link = await LinkRepository(session).by_slug(slug, owner_id=owner_id)
        if link is None:
            raise not_found("link")
        return self.to_out(link)

    async def owned_link_id(self, owner_id: int, slug: str) -> int:
        async with self.sessions() as session:
            link = await LinkRepository(session).by_slug(slug, owner_id=owner_id)
        if link is None:
            raise not_found("link")
        return link.id

    async def page(
        self, owner_id: int, *, cursor: str | None, limit: int, tag: str | None, q: str | None
    ) -> LinkPage:
        before_id = decode_cursor(cursor) if cursor else None
        async with self.sessions() as session:
            found = await LinkRepository(session).page(
                owner_id, before_id=before_id, limit=limit + 1, tag=tag, q=q
            )
        items = found[:limit]
        next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
        return LinkPage(items=[self.to_out(link) for link in items], next_cursor=next_cursor)

    async def update(self, owner_id: int, slug: str, body: LinkUpdate) -> LinkOut:
        changes = body.model_dump(include=body.model_fields_set - {"tags"})
        if body.url is not None:
            self._refuse_self_link(body.url)
        async with transaction(self.sessions) as session:
            repo = LinkRepository(session)
            link = await repo.by_slug(slug, owner_id=owner_id)
            if link is None:
                raise not_found("link")
            if changes or body.tags is not None:
                changes["updated_at"] = datetime.now(UTC)
            link = await repo.update(link.id, changes, body.tags)
        await self.notifier.link_changed(slug, resolved(link, clicks=0))
        return self.to_out(link)

    async def delete(self, owner_id: int, slug: str) -> None:
        async with transaction(self.sessions) as session:
            repo = LinkRepository(session)
            link = await repo.by_slug(slug, owner_id=owner_id)
            if link is None:
                raise not_found("link")
            await repo.delete(link.id)
        await self.notifier.link_changed(slug, None)

    async def resolve(self, slug: str) -> ResolvedLink:
        """For the redirect service: where a slug goes, whoever owns it."""
        async with self.sessions() as session:
            link = await LinkRepository(session).by_slug(slug)
        if link is None:
            raise not_found("link")
        clicks = await self.analytics.click_count(link.id) if link.max_clicks else 0
        return resolved(link, clicks=clicks)
