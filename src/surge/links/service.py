"""Links business logic. Each public method is one unit of work: the one place that commits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from surge.data.contracts import (
    Interval,
    LinkStats,
    ResolvedLink,
    VisitCounts,
    VisitsPage,
    VisitsQuery,
    link_key,
)
from surge.domains.service import DomainService
from surge.links.analytics_client import LinkChangeNotifier, VisitsClient
from surge.links.repository import (
    Link,
    LinkFilter,
    LinkHead,
    LinkQueries,
    LinkRepository,
    SlugTaken,
)
from surge.links.schemas import LinkCreate, LinkUpdate, TagRename
from surge.links.tag_repository import TagRepository, TagTaken
from surge.links.writes import LinkWrites, created, deleted, password_hash_of, resolved
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.passwords import argon2_matches
from surge.platform.problems import SLUG_TAKEN, TAG_TAKEN, ProblemError, not_found
from surge.platform.replicas import ReadSessions, changed_link_mark

# Slugs a robots.txt lists at most: Google reads the first 500 KiB of one, and 25,000 lines
# of "Allow: /slug" stay under that for slugs up to 12 characters.
MAX_CRAWLABLE = 25_000


@dataclass(slots=True, frozen=True)
class LinksPage:
    items: list[Link]
    next_cursor: str | None


def with_imported_counts(
    counts: dict[int, VisitCounts], imported: dict[int, tuple[int, int]]
) -> dict[int, VisitCounts]:
    """Analytics' all-time counts per link plus the (humans, bots) each link brought from
    another shortener (`surge import`): the one rule every count of a link's visits follows
    (stats add it in `with_imported_clicks`)."""
    for link_id, (humans, bots) in imported.items():
        counted = counts.get(link_id) or VisitCounts(link_id=link_id, humans=0, bots=0)
        counts[link_id] = VisitCounts(
            link_id=link_id, humans=counted.humans + humans, bots=counted.bots + bots
        )
    return counts


def encode_cursor(link_id: int) -> str:
    """A page's next cursor: the id below which the next page starts (ids are not secret)."""
    return str(link_id)


def with_imported_clicks(link: Link, stats: LinkStats) -> LinkStats:
    """Stats plus the clicks the link brought from another shortener (`surge import`).

    A peer's export has a total, not when or from where its clicks came, so they are placed at
    the link's creation (kept from the peer): they count in `total` and `bot_clicks` of any
    range that includes that moment, and in neither the time series nor the breakdowns, which
    would have to invent a date and a referrer for them."""
    if not (link.imported_clicks or link.imported_bot_clicks):
        return stats
    if not stats.from_ <= link.created_at < stats.to:
        return stats
    return stats.model_copy(
        update={
            "total": stats.total + link.imported_clicks,
            "bot_clicks": stats.bot_clicks + link.imported_bot_clicks,
        }
    )


def lifetime_range(
    start: datetime | None, end: datetime | None, created_at: datetime, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """A stats range with what lies before the link was made or after now cut off: no click
    is there, and a long-lived query (`from=2000-01-01`) must not be refused for its empty
    part. A range wholly outside, or one analytics will refuse anyway (no time zone, `from`
    after `to`), is left as it is."""
    if (start is not None and start.tzinfo is None) or (end is not None and end.tzinfo is None):
        return start, end
    if start is not None and end is not None and start >= end:
        return start, end
    if start is not None and start < created_at and (end is None or end > created_at):
        start = created_at
    if end is not None and end > now and (start is None or start < now):
        end = now
    return start, end


class LinkService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionMaker,
        notifier: LinkChangeNotifier,
        analytics: VisitsClient,
        domains: DomainService,
        reads: ReadSessions | None = None,
    ) -> None:
        """`reads`: where reads a replica may answer go (default: `sessions`)."""
        self.settings = settings
        self.sessions = sessions
        self.reads = ReadSessions.primary_only(sessions) if reads is None else reads
        self.notifier = notifier
        self.analytics = analytics
        self.domains = domains
        self.writes = LinkWrites(settings, notifier, domains)

    async def create(
        self, owner_id: int, body: LinkCreate, *, slug_length: int | None = None
    ) -> Link:
        """`slug_length`: how long the random slug is when `body` names none (None: Surge's
        RANDOM_SLUG_LENGTH)."""
        new = await self.writes.prepare(body, slug_length=slug_length)
        async with transaction(self.sessions) as session:
            (link,) = await self.writes.add(session, owner_id, [new])
            if isinstance(link, ProblemError):
                raise link
        await self.writes.announce([created(link)])
        return link

    async def get(self, owner_id: int | None, slug: str, domain: str | None = None) -> Link:
        """The link `slug` on `domain` (None: the default one) if `owner_id` owns it (None:
        whoever does, for an admin)."""
        key = await self.domains.lookup_key(domain)
        if key is None:  # no such domain: no link there
            raise not_found("link")
        link = await self.reads.run(
            lambda session: LinkRepository(session).by_slug(slug, domain=key, owner_id=owner_id)
        )
        if link is None:
            raise not_found("link")
        return link

    async def page(
        self,
        owner_id: int | None,
        *,
        cursor: str | None,
        limit: int,
        tag: str | None,
        q: str | None,
        domain: str | None = None,
    ) -> LinksPage:
        """`domain` None: links on every domain."""
        before_id = int(cursor) if cursor else None  # the route's pattern makes it an id
        key = None if domain is None else await self.domains.lookup_key(domain)
        if domain is not None and key is None:  # no such domain: no links there
            return LinksPage(items=[], next_cursor=None)
        found = await self.reads.run(
            lambda session: LinkRepository(session).page(
                owner_id, before_id=before_id, limit=limit + 1, tag=tag, q=q, domain=key
            )
        )
        items = found[:limit]
        next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
        return LinksPage(items=items, next_cursor=next_cursor)

    async def update(
        self, owner_id: int | None, slug: str, body: LinkUpdate, domain: str | None = None
    ) -> Link:
        """Change the link `slug` on `domain`; `body.domain` moves it to another domain."""
        changes = body.model_dump(include=body.model_fields_set)
        self.writes.refuse_targets(body.url, body.rules)
        if "rules" in changes:
            changes["rules"] = tuple(r.rule() for r in body.rules or ())
        if "password" in changes:
            changes["password_hash"] = await password_hash_of(changes.pop("password"))
        key = await self.domains.lookup_key(domain)
        if key is None:
            raise not_found("link")
        moved_to = None
        if "domain" in changes:
            moved_to = await self.domains.key_of(changes.pop("domain"))
        try:
            async with transaction(self.sessions) as session:
                repo = LinkRepository(session)
                link = await repo.by_slug(slug, domain=key, owner_id=owner_id)
                if link is None:
                    raise not_found("link")
                if changes or moved_to not in (None, key):  # an empty PATCH changes nothing
                    if "tags" in changes:
                        changes["tags"] = tuple(changes["tags"])
                    values = replace(link.values, **changes)
                    link = await repo.update(link.id, values, utc_now(), moved_to)
        except SlugTaken:
            raise SLUG_TAKEN(
                f"The slug '{slug}' is taken on {self.domains.host_of(moved_to or '')}."
            ) from None
        if link.domain != key:
            await self.notifier.link_changed(link_key(key, slug), None)
        await self.notifier.link_changed(link_key(link.domain, slug), resolved(link, clicks=0))
        return link

    async def delete(self, owner_id: int | None, slug: str, domain: str | None = None) -> None:
        key = await self.domains.lookup_key(domain)
        if key is None:
            raise not_found("link")
        async with transaction(self.sessions) as session:
            repo = LinkRepository(session)
            link = await repo.by_slug(slug, domain=key, owner_id=owner_id)
            if link is None:
                raise not_found("link")
            await self.writes.remove(session, [link])
        await self.writes.announce([deleted(link)])

    async def stats(
        self,
        owner_id: int | None,
        slug: str,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        domain: str | None = None,
        top: int | None = None,
    ) -> LinkStats:
        """The link's stats from analytics, once the link is known to be the caller's; the
        range clamped to the link's lifetime (see lifetime_range); `top` values per breakdown
        (None: the API's 10)."""
        link = await self.get(owner_id, slug, domain)
        start, end = lifetime_range(start, end, link.created_at, utc_now())
        stats = await self.analytics.stats(
            link.id, start=start, end=end, interval=interval, top=top
        )
        return with_imported_clicks(link, stats)

    async def delete_visits(
        self, owner_id: int | None, slug: str, domain: str | None = None
    ) -> int:
        """Delete the link's visits, those it brought from another shortener too: its stats
        start again from zero, and a click limit counts anew. How many there were."""
        link = await self.get(owner_id, slug, domain)
        deleted = await self.analytics.delete_visits(link.id)
        imported = link.imported_clicks + link.imported_bot_clicks
        if imported:
            async with transaction(self.sessions) as session:
                await LinkRepository(session).forget_imported(link.id)
        # A replica's entry of a click-limited link holds the count it loaded: reload it.
        await self.notifier.link_changed(link_key(link.domain, slug), resolved(link, clicks=0))
        return deleted + imported

    async def visit_counts(self, link_ids: list[int]) -> dict[int, VisitCounts]:
        """All-time clicks per link id: analytics' counts plus what each link brought from
        another shortener (`surge import`), as its stats count them. A link with none is
        absent."""
        counts = await self.analytics.visit_counts(link_ids)
        if not link_ids:
            return counts
        imported = await self.reads.run(
            lambda session: LinkRepository(session).imported_counts(link_ids)
        )
        return with_imported_counts(counts, imported)

    async def visits(self, query: VisitsQuery) -> VisitsPage:
        """One page of the raw visits of these links, newest first (imported clicks have no
        dates, so none is listed)."""
        return await self.analytics.visits(query)

    async def resolve(self, slug: str, domain: str = "") -> ResolvedLink:
        """For the redirect service: where a slug on the domain keyed `domain` goes, whoever
        owns it. From a replica unless the link changed within the read-your-writes window
        (the redirect asks right after a change: it must not cache the old state)."""
        link = await self.reads.run(
            lambda session: LinkRepository(session).by_slug(slug, domain=domain),
            key=changed_link_mark(link_key(domain, slug)),
        )
        if link is None:
            raise not_found("link")
        clicks = 0
        if link.values.max_clicks:  # the clicks it had before an import count towards it too
            clicks = await self.analytics.click_count(link.id)
            clicks += link.imported_clicks + link.imported_bot_clicks
        return resolved(link, clicks=clicks)

    async def crawlable_slugs(self, domain: str) -> list[str]:
        """For the redirect's robots.txt: the crawlable links of the domain keyed `domain`."""
        return await self.reads.run(
            lambda session: LinkRepository(session).crawlable_slugs(domain, MAX_CRAWLABLE)
        )

    async def unlock(self, slug: str, domain: str, password: str) -> bool:
        """For the redirect service: whether `password` opens the protected link `slug` on the
        domain keyed `domain` (never for a link without one: there is nothing to open)."""
        async with self.sessions() as session:
            link = await LinkRepository(session).by_slug(slug, domain=domain)
        if link is None:
            raise not_found("link")
        return await asyncio.to_thread(argon2_matches, link.values.password_hash, password)

    # --- tags --------------------------------------------------------------------------------
    # No redirect depends on a link's tags (the redirect's entries carry none): the caches are
    # not told of these changes.

    async def rename_tag(self, owner_id: int | None, old: str, new: TagRename) -> None:
        """`old` becomes `new.name` on every link of the owner (None: everyone's, for an
        admin): not found if none has `old`; taken if one has `new.name` already."""
        taken = TAG_TAKEN(f"The tag '{new.name}' exists already.")
        try:
            async with transaction(self.sessions) as session:
                tags = TagRepository(session)
                found = await tags.found(owner_id, [old, new.name])
                if old not in found:
                    raise not_found("tag")
                if new.name != old:
                    if new.name in found:
                        raise taken
                    await tags.rename(owner_id, old, new.name, utc_now())
        except TagTaken:  # a link was given the new name meanwhile
            raise taken from None

    async def delete_tags(self, owner_id: int | None, tags: Sequence[str]) -> set[str]:
        """Take `tags` off every link of the owner (None: everyone's); those some link had."""
        if not tags:
            return set()
        async with transaction(self.sessions) as session:
            repo = TagRepository(session)
            found = await repo.found(owner_id, tags)
            if found:
                await repo.delete(owner_id, sorted(found), utc_now())
        return found

    # --- listings for the Shlink REST API (surge.shlink) ---------------------------------------

    async def heads(
        self, owner_id: int | None, match: LinkFilter, *, order: str, descending: bool
    ) -> list[LinkHead]:
        """Every link of the owner (None: everyone's) that matches, in order."""
        return await self.reads.run(
            lambda session: LinkQueries(session).heads(
                owner_id, match, order=order, descending=descending
            )
        )

    async def by_ids(self, ids: list[int]) -> list[Link]:
        return await self.reads.run(lambda session: LinkQueries(session).by_ids(ids))

    async def tagged(self, owner_id: int | None) -> list[tuple[str, int]]:
        """(tag, link id) of every tag on the owner's links (None: everyone's)."""
        return await self.reads.run(lambda session: LinkQueries(session).tagged(owner_id))

    async def find_same(self, owner_id: int, body: LinkCreate) -> Link | None:
        """The owner's newest link that `body` would create again: same URL, and the same
        slug, tags, expiry and click limit where `body` sets them."""
        async with self.sessions() as session:
            candidates = await LinkQueries(session).newest_to(owner_id, body.url)
        sent = body.model_fields_set
        domain = await self.domains.key_of(body.domain)
        for link in candidates:
            values = link.values
            if (
                link.domain == domain
                and (body.slug is None or link.slug == body.slug)
                and ("tags" not in sent or set(values.tags) == set(body.tags))
                and ("expires_at" not in sent or values.expires_at == body.expires_at)
                and ("max_clicks" not in sent or values.max_clicks == body.max_clicks)
            ):
                return link
        return None
