"""How a link is created and deleted, whether one at a time (LinkService) or by the thousand
(BulkLinks): the one place that checks a new link against Surge's rules, writes it and tells
the redirect caches. Whatever else must happen with a link's creation or deletion (an event
written in the same transaction, say) goes here, and so happens for every door and both paths.

A write runs inside the caller's unit of work (`session`): the caller commits, then announces
what changed (`announce`), so the caches never learn of a change that was rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.contracts import ResolvedLink, link_key
from surge.domains.service import DomainService
from surge.links.analytics_client import LinkChangeNotifier
from surge.links.repository import Link, LinkRepository, LinkValues
from surge.links.schemas import LinkCreate, RuleIn
from surge.links.slugs import RANDOM_SLUG_LENGTH, random_slug, slug_length_problem
from surge.links.targets import target_problem
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.passwords import argon2_hash, hash_fingerprint
from surge.platform.problems import SLUG_SPACE_BUSY, SLUG_TAKEN, ProblemError, field_problem

RANDOM_SLUG_ATTEMPTS = 8


def target_refusal(url: str, settings: Settings) -> str | None:
    """Why a link may not point at `url` here (see targets.target_problem), or None."""
    return target_problem(url, public_host=settings.public_host, blocked=settings.blocked_hosts)


def values_of(body: LinkCreate) -> LinkValues:
    """What a new link sets, from a checked request (the API's, a form's or an imported row)."""
    return LinkValues(
        url=body.url,
        redirect_type=body.redirect_type,
        expires_at=body.expires_at,
        max_clicks=body.max_clicks,
        tags=tuple(body.tags),
        rules=tuple(r.rule() for r in body.rules),
        forward_query=body.forward_query,
        title=body.title,
        valid_since=body.valid_since,
        crawlable=body.crawlable,
    )


async def password_hash_of(password: str | None) -> str | None:
    """argon2 in a worker thread: ~50 ms of CPU that must not stall the event loop."""
    return None if password is None else await asyncio.to_thread(argon2_hash, password)


def resolved(link: Link, *, clicks: int) -> ResolvedLink:
    values = link.values
    return ResolvedLink(
        link_id=link.id,
        slug=link.slug,
        domain=link.domain,
        url=values.url,
        redirect_type=values.redirect_type,
        expires_at=values.expires_at,
        max_clicks=values.max_clicks,
        clicks=clicks,
        rules=list(values.rules) or None,
        forward_query=values.forward_query,
        valid_since=values.valid_since,
        lock=hash_fingerprint(values.password_hash) if values.password_hash else None,
    )


@dataclass(slots=True, frozen=True)
class NewLink:
    """A create request that passed every check made before writing: only its slug may still
    be taken."""

    values: LinkValues
    domain: str  # the domain's key
    slug: str | None  # None: a random one of `slug_length` characters
    slug_length: int


# What the caches are told after a commit: the link's key and its new state (None: gone).
Change = tuple[str, ResolvedLink | None]


def created(link: Link) -> Change:
    # A cached "unknown slug" must not outlive the link's creation.
    return link_key(link.domain, link.slug), resolved(link, clicks=0)


def deleted(link: Link) -> Change:
    return link_key(link.domain, link.slug), None


class LinkWrites:
    def __init__(
        self, settings: Settings, notifier: LinkChangeNotifier, domains: DomainService
    ) -> None:
        self.settings = settings
        self.notifier = notifier
        self.domains = domains

    def refuse_target(self, url: str, field: str = "url") -> None:
        problem = target_refusal(url, self.settings)
        if problem:
            raise field_problem(field, problem)

    def refuse_targets(self, url: str | None, rules: list[RuleIn] | None) -> None:
        """A link's URL and its rules' targets follow the same rules."""
        if url is not None:
            self.refuse_target(url)
        for i, rule in enumerate(rules or ()):
            self.refuse_target(rule.url, f"rules[{i}].url")

    async def prepare(
        self,
        body: LinkCreate,
        *,
        slug_length: int | None = None,
        domain_keys: dict[str | None, str] | None = None,
    ) -> NewLink:
        """`body` checked against the rules a new link follows (a ProblemError if it breaks
        one); its password hashed. `slug_length`: how long the random slug is when `body`
        names none (None: RANDOM_SLUG_LENGTH). `domain_keys`: the keys of domains looked up
        already (a batch asks once per domain)."""
        length = RANDOM_SLUG_LENGTH if slug_length is None else slug_length
        length_problem = slug_length_problem(length)
        if length_problem:
            raise field_problem("slug_length", length_problem)
        self.refuse_targets(body.url, body.rules)
        values = values_of(body)
        if domain_keys is not None and body.domain in domain_keys:
            domain = domain_keys[body.domain]
        else:
            domain = await self.domains.key_of(body.domain)
            if domain_keys is not None:
                domain_keys[body.domain] = domain
        if body.password is not None:
            values = replace(values, password_hash=await password_hash_of(body.password))
        return NewLink(values, domain, body.slug, length)

    async def add(
        self, session: AsyncSession, owner_id: int, new: Sequence[NewLink]
    ) -> list[Link | ProblemError]:
        """Write the links in `session`'s unit of work, in a statement or a few whatever their
        number; each link written or, when its slug is taken, SLUG_TAKEN (the unit of work can
        go on: nothing of it was written). As if each were created alone, in order: of two
        that name the same slug the first has it; a random slug that is taken is drawn again."""
        done: list[Link | ProblemError | None] = [None] * len(new)
        waiting = list(range(len(new)))
        now = utc_now()
        for _ in range(RANDOM_SLUG_ATTEMPTS):
            drawn: dict[tuple[str, str], int] = {}  # (domain, slug) -> the item trying it now
            for i in waiting:
                item = new[i]
                slug = item.slug or random_slug(item.slug_length)
                if (item.domain, slug) not in drawn:
                    drawn[item.domain, slug] = i
                elif item.slug:  # an earlier item of the batch has it
                    done[i] = SLUG_TAKEN(f"The slug '{item.slug}' is taken.")
            written = await LinkRepository(session).add(
                owner_id, [(d, s, new[i].values) for (d, s), i in drawn.items()], now
            )
            for (domain, slug), i in drawn.items():
                link = written.get((domain, slug))
                if link is not None:
                    done[i] = link
                elif new[i].slug:
                    done[i] = SLUG_TAKEN(f"The slug '{slug}' is taken.")
            waiting = [i for i in waiting if done[i] is None]  # random slugs drawn taken
            if not waiting:
                break
        busy = SLUG_SPACE_BUSY("Could not find a free slug.")
        return [busy if outcome is None else outcome for outcome in done]

    async def remove(self, session: AsyncSession, gone: Sequence[Link]) -> None:
        """Delete the links in `session`'s unit of work."""
        if gone:
            await LinkRepository(session).delete([link.id for link in gone])

    async def announce(self, changes: Sequence[Change]) -> None:
        """After the commit: every cache tier learns the links' new states."""
        await self.notifier.links_changed(changes)
