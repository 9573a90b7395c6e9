"""All SQL of links and their tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.rules import RedirectRule
from surge.data.tables import LINK_SEARCH_TEXT, link_tags, links
from surge.links.webhook_events import record_link_events, record_links_by_id
from surge.platform.db import dialect_insert
from surge.webhooks.events import LINK_CREATED, LINK_DELETED, LINK_UPDATED


@dataclass(slots=True, frozen=True)
class LinkValues:
    """What a write sets on a link: every field a user can change."""

    url: str
    redirect_type: int
    expires_at: datetime | None
    max_clicks: int | None
    tags: tuple[str, ...]
    rules: tuple[RedirectRule, ...] = ()  # first match wins; none: always `url`
    forward_query: bool = True  # the visitor's query string is merged into the target's
    password_hash: str | None = None  # argon2; None: not protected
    title: str | None = None
    valid_since: datetime | None = None  # before it, answered as an unknown slug
    crawlable: bool = False  # listed as allowed in robots.txt


@dataclass(slots=True, frozen=True)
class Link:
    id: int
    slug: str
    owner_id: int
    values: LinkValues
    created_at: datetime
    updated_at: datetime
    # Clicks it had at another shortener before `surge import` brought it here (humans, bots).
    imported_clicks: int = 0
    imported_bot_clicks: int = 0
    domain: str = ""  # the host it is served on; '' is the default domain


class SlugTaken(Exception):
    pass


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, owner_id: int, new: Sequence[tuple[str, str, LinkValues]], now: datetime
    ) -> dict[tuple[str, str], Link]:
        """New links, (domain key, slug, values) each, in one statement (a batch: a few); those
        written, by (domain, slug). A slug the domain has already is left out, and fails
        nothing (ON CONFLICT DO NOTHING): the unit of work goes on, so a service can retry
        with another slug, and a batch carry on with its other links."""
        if not new:
            return {}
        rows = [
            {
                "slug": slug,
                "domain": domain,
                "owner_id": owner_id,
                "created_at": now,
                **link_columns(values, now),
            }
            for domain, slug, values in new
        ]
        # Many rows, one compiled statement: SQLAlchemy sends them as multi-row INSERTs.
        insert_rows = dialect_insert(self.session, links).on_conflict_do_nothing()
        written = (await self.session.execute(insert_rows.returning(*links.c), rows)).all()
        tags_of = {(domain, slug): sorted(set(values.tags)) for domain, slug, values in new}
        added = {
            (row.domain, row.slug): Link(
                id=row.id,
                slug=row.slug,
                owner_id=row.owner_id,
                values=_values_of(row, tuple(tags_of[row.domain, row.slug])),
                created_at=row.created_at,
                updated_at=row.updated_at,
                domain=row.domain,
            )
            for row in written
        }
        tag_rows = [
            {"link_id": link.id, "tag": tag} for link in added.values() for tag in link.values.tags
        ]
        if tag_rows:
            await self.session.execute(insert(link_tags), tag_rows)
        await record_link_events(
            self.session, LINK_CREATED, sorted(added.values(), key=lambda link: link.id)
        )
        return added

    async def add_many(
        self, owner_id: int, targets: Sequence[tuple[str, str]], now: datetime
    ) -> list[int]:
        """Many untagged 302 links, (slug, url) each, at once (seeding); their ids, in order."""
        rows = [
            {
                "slug": slug,
                "owner_id": owner_id,
                "url": url,
                "redirect_type": 302,
                "created_at": now,
                "updated_at": now,
            }
            for slug, url in targets
        ]
        result = await self.session.execute(
            insert(links).returning(links.c.id, sort_by_parameter_order=True), rows
        )
        return [int(link_id) for link_id in result.scalars()]

    async def by_slug(
        self, slug: str, *, domain: str = "", owner_id: int | None = None
    ) -> Link | None:
        query = select(links).where(links.c.domain == domain, links.c.slug == slug)
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        row = (await self.session.execute(query)).first()
        return (await self.with_tags([row]))[0] if row else None

    async def page(
        self,
        owner_id: int | None,
        *,
        before_id: int | None,
        limit: int,
        tag: str | None,
        q: str | None,
        domain: str | None = None,
    ) -> list[Link]:
        """Newest first; `owner_id` None: everyone's links; `domain` None: on every domain."""
        query = select(links).order_by(links.c.id.desc()).limit(limit)
        if domain is not None:
            query = query.where(links.c.domain == domain)
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        if before_id is not None:
            query = query.where(links.c.id < before_id)
        if tag is not None:
            query = query.where(
                links.c.id.in_(select(link_tags.c.link_id).where(link_tags.c.tag == tag))
            )
        if q:
            query = query.where(search_clause(q))
            await self._plan_for_each_term()
        rows = (await self.session.execute(query)).all()
        return await self.with_tags(rows)

    async def _plan_for_each_term(self) -> None:
        """Have PostgreSQL plan the next statements of this transaction for their parameters.

        asyncpg prepares a statement once per connection, and after five runs PostgreSQL may
        settle on one generic plan for it, costed for an unknown pattern (~1% of links
        matching): newest first by id until a page is full. For a term that matches nothing
        that reads every link of the owner (100k links: 130-400 ms, where the trigram index
        answers in under a millisecond); the index alone did not prevent it for a next page
        (`id < ?`). Planned for the term, a selective one takes the index and a common one
        still the walk, which a full page soon ends. Costs a round trip and ~0.3 ms of planning.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
            )

    async def crawlable_slugs(self, domain: str, limit: int) -> list[str]:
        """The slugs of the domain's crawlable links, in order (at most `limit`)."""
        rows = await self.session.execute(
            select(links.c.slug)
            .where(links.c.domain == domain, links.c.crawlable.is_(True))
            .order_by(links.c.slug)
            .limit(limit)
        )
        return list(rows.scalars())

    async def forget_imported(self, link_id: int) -> None:
        """The clicks it brought from another shortener are deleted with its visits."""
        await self.session.execute(
            update(links)
            .where(links.c.id == link_id)
            .values(imported_clicks=None, imported_bot_clicks=None)
        )

    async def imported_counts(self, link_ids: list[int]) -> dict[int, tuple[int, int]]:
        """(humans, bots) each of `link_ids` brought from another shortener, if it did."""
        rows = await self.session.execute(
            select(links.c.id, links.c.imported_clicks, links.c.imported_bot_clicks).where(
                links.c.id.in_(link_ids),
                or_(links.c.imported_clicks.is_not(None), links.c.imported_bot_clicks.is_not(None)),
            )
        )
        return {
            int(row.id): (int(row.imported_clicks or 0), int(row.imported_bot_clicks or 0))
            for row in rows
        }

    async def update(
        self, link_id: int, values: LinkValues, now: datetime, domain: str | None = None
    ) -> Link:
        """`domain`: the domain it moves to (None: stays); SlugTaken if its slug is taken there."""
        moved = {} if domain is None else {"domain": domain}
        try:
            await self.session.execute(
                update(links)
                .where(links.c.id == link_id)
                .values(**link_columns(values, now), **moved)
            )
        except IntegrityError as exc:
            raise SlugTaken(domain) from exc
        await self._set_tags(link_id, values.tags)
        link = await self._by_id(link_id)
        assert link is not None
        await record_link_events(self.session, LINK_UPDATED, [link])
        return link

    async def delete(self, link_ids: Sequence[int]) -> None:
        await record_links_by_id(self.session, LINK_DELETED, link_ids)  # as they were
        await self.session.execute(delete(link_tags).where(link_tags.c.link_id.in_(link_ids)))
        await self.session.execute(delete(links).where(links.c.id.in_(link_ids)))

    async def _by_id(self, link_id: int) -> Link | None:
        row = (await self.session.execute(select(links).where(links.c.id == link_id))).first()
        return (await self.with_tags([row]))[0] if row else None

    async def _set_tags(self, link_id: int, tags: Iterable[str]) -> None:
        await self.session.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
        unique = sorted(set(tags))
        if unique:
            await self.session.execute(
                insert(link_tags), [{"link_id": link_id, "tag": t} for t in unique]
            )

    async def with_tags(self, rows: Sequence[Any]) -> list[Link]:
        """Rows of `links` (with any more columns) as Links, their tags read in one query."""
        ids = [row.id for row in rows]
        tags: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            tag_rows = await self.session.execute(
                select(link_tags.c.link_id, link_tags.c.tag)
                .where(link_tags.c.link_id.in_(ids))
                .order_by(link_tags.c.tag)
            )
            for link_id, tag in tag_rows:
                tags[link_id].append(tag)
        return [
            Link(
                id=row.id,
                slug=row.slug,
                owner_id=row.owner_id,
                values=_values_of(row, tuple(tags[row.id])),
                created_at=row.created_at,
                updated_at=row.updated_at,
                imported_clicks=row.imported_clicks or 0,
                imported_bot_clicks=row.imported_bot_clicks or 0,
                domain=row.domain,
            )
            for row in rows
        ]


def _values_of(row: Any, tags: tuple[str, ...]) -> LinkValues:
    """What a row of `links` sets, with its tags."""
    return LinkValues(
        url=row.url,
        redirect_type=row.redirect_type,
        expires_at=row.expires_at,
        max_clicks=row.max_clicks,
        tags=tags,
        rules=_rules_of(row.rules),
        forward_query=row.forward_query,
        password_hash=row.password_hash,
        title=row.title,
        valid_since=row.valid_since,
        crawlable=row.crawlable,
    )


def link_columns(values: LinkValues, now: datetime) -> dict[str, Any]:
    """The `links` columns a write sets (tags live in `link_tags`)."""
    return {
        "url": values.url,
        "redirect_type": values.redirect_type,
        "expires_at": values.expires_at,
        "max_clicks": values.max_clicks,
        "rules": _rules_json(values.rules),
        "forward_query": values.forward_query,
        "password_hash": values.password_hash,
        "title": values.title,
        "valid_since": values.valid_since,
        "crawlable": values.crawlable,
        "updated_at": now,
    }


_RULES = TypeAdapter(list[RedirectRule])


def _rules_json(rules: tuple[RedirectRule, ...]) -> str | None:
    return _RULES.dump_json(list(rules)).decode() if rules else None


def _rules_of(text: str | None) -> tuple[RedirectRule, ...]:
    return tuple(_RULES.validate_json(text)) if text else ()


@dataclass(slots=True, frozen=True)
class LinkFilter:
    """Which links a listing matches (the Shlink REST API's filters)."""

    search: str | None = None  # part of the slug or the URL, as `q` of /api/v1/links
    tags: tuple[str, ...] = ()
    all_tags: bool = False  # with `tags`: links with every one of them, else with any
    created_from: datetime | None = None
    created_to: datetime | None = None
    live_at: datetime | None = None  # only links whose expires_at is unset or after this
    domain: str | None = None  # only links on this domain (its key; None: every domain)


@dataclass(slots=True, frozen=True)
class LinkHead:
    """What ordering and filtering by clicks need of a link, without loading it."""

    id: int
    slug: str
    url: str
    max_clicks: int | None


LINK_ORDERS = {
    "dateCreated": links.c.id,
    "shortCode": links.c.slug,
    "longUrl": links.c.url,
    # No title sorts as an empty one: first going up, last going down, on either database.
    "title": func.coalesce(links.c.title, ""),
}


class LinkQueries:
    """Listings by filter, count and order (offset pages), and tags with their links."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def heads(
        self, owner_id: int | None, match: LinkFilter, *, order: str, descending: bool
    ) -> list[LinkHead]:
        """Every matching link, in order (`order`: a key of LINK_ORDERS; ties by id)."""
        column = LINK_ORDERS[order]
        query = select(links.c.id, links.c.slug, links.c.url, links.c.max_clicks).order_by(
            column.desc() if descending else column.asc(),
            links.c.id.desc() if descending else links.c.id.asc(),
        )
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        if match.search:
            query = query.where(search_clause(match.search))
        for tag_set in [match.tags] if not match.all_tags else [(t,) for t in match.tags]:
            if tag_set:
                query = query.where(
                    links.c.id.in_(select(link_tags.c.link_id).where(link_tags.c.tag.in_(tag_set)))
                )
        if match.created_from is not None:
            query = query.where(links.c.created_at >= match.created_from)
        if match.created_to is not None:
            query = query.where(links.c.created_at <= match.created_to)
        if match.domain is not None:
            query = query.where(links.c.domain == match.domain)
        if match.live_at is not None:
            query = query.where(
                or_(links.c.expires_at.is_(None), links.c.expires_at > match.live_at)
            )
        return [LinkHead(*row) for row in (await self.session.execute(query)).all()]

    async def by_ids(self, ids: Sequence[int]) -> list[Link]:
        """These links, in the order of `ids` (ids not found are left out)."""
        if not ids:
            return []
        rows = (await self.session.execute(select(links).where(links.c.id.in_(ids)))).all()
        found = {link.id: link for link in await LinkRepository(self.session).with_tags(rows)}
        return [found[i] for i in ids if i in found]

    async def newest_to(self, owner_id: int, url: str) -> list[Link]:
        """The owner's links to exactly `url`, newest first."""
        rows = (
            await self.session.execute(
                select(links)
                .where(links.c.owner_id == owner_id, links.c.url == url)
                .order_by(links.c.id.desc())
            )
        ).all()
        return await LinkRepository(self.session).with_tags(rows)

    async def tagged(self, owner_id: int | None) -> list[tuple[str, int]]:
        """(tag, link id) of every tag on the owner's links (None: everyone's), by tag."""
        query = (
            select(link_tags.c.tag, link_tags.c.link_id)
            .join(links, links.c.id == link_tags.c.link_id)
            .order_by(link_tags.c.tag, link_tags.c.link_id)
        )
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        return [(tag, int(link_id)) for tag, link_id in (await self.session.execute(query)).all()]


def search_clause(q: str) -> ColumnElement[bool]:
    """Links whose slug or URL contains `q`, case-insensitively (LIKE wildcards taken as text).

    Matched over LINK_SEARCH_TEXT, slug and URL with a space between, as its trigram index on
    PostgreSQL is built; only a term with a space in it could match across the two, so such a
    term is also matched column by column.
    """
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    clause: ColumnElement[bool] = LINK_SEARCH_TEXT.ilike(pattern, escape="\\")
    if " " in q:
        clause = and_(
            clause,
            or_(
                links.c.slug.ilike(pattern, escape="\\"),
                links.c.url.ilike(pattern, escape="\\"),
            ),
        )
    return clause
