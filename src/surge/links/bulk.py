"""Links by the thousand: created, tagged or deleted in one unit of work per batch.

Each link of a batch is created, refused and announced by the same code as a single create
(surge.links.writes), so a batch's item gets exactly the problem a single request would have:
a batch is that many single calls, in order, committed together. Nothing in a batch fails the
others (a taken slug writes nothing: see LinkRepository.add), except with `atomic`, where one
failed item rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from surge.domains.service import DomainService
from surge.links.bulk_repository import BulkLinkRepository
from surge.links.bulk_schemas import MAX_BATCH, BulkSelection
from surge.links.fields import MAX_TAGS_PER_LINK
from surge.links.repository import Link, LinkQueries
from surge.links.schemas import LinkCreate
from surge.links.writes import LinkWrites, NewLink, created, deleted
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction
from surge.platform.problems import (
    BATCH_REFUSED,
    BATCH_TOO_LARGE,
    ProblemError,
    field_problem,
    invalid_input,
    not_found,
)

# What each item of a batch came to, in the request's order.
Outcome = Link | ProblemError
# Told how many items a batch has before anything is written (a rate limit): raises to refuse.
Charge = Callable[[int], Awaitable[None]]


def parse_link(raw: object) -> LinkCreate | ProblemError:
    """One item of a batch as the body of a single create, or the 422 that create would give."""
    try:
        return LinkCreate.model_validate(raw)
    except ValidationError as exc:
        return invalid_input(exc.errors(), within=("body",))


def failures(outcomes: Sequence[Outcome]) -> list[tuple[int, ProblemError]]:
    return [(i, o) for i, o in enumerate(outcomes) if isinstance(o, ProblemError)]


class _RollBack(Exception):
    """An atomic batch had a failed item: undo every write of its unit of work."""


def unknown(slug: str) -> ProblemError:
    """A single request's 404 for a link it cannot see, naming the slug (the item's own)."""
    problem = not_found("link")
    problem.extra["slug"] = slug
    return problem


class BulkLinks:
    def __init__(self, sessions: SessionMaker, writes: LinkWrites, domains: DomainService) -> None:
        self.sessions = sessions
        self.writes = writes
        self.domains = domains

    # --- create ------------------------------------------------------------------------------

    async def create(
        self,
        owner_id: int,
        items: Sequence[object],
        *,
        atomic: bool = False,
        dry_run: bool = False,
    ) -> list[Outcome]:
        """Each of `items` (a single create's body, unchecked) as a link of the owner's, in one
        unit of work; with `atomic`, none unless every one is (BATCH_REFUSED). `dry_run`: what
        each would come to, every write rolled back (a preview; random slugs not kept)."""
        domain_keys: dict[str | None, str] = {}
        outcomes: list[Outcome | None] = []  # None: ready to be written
        ready: list[NewLink] = []
        for item in items:
            body = parse_link(item)
            try:
                if isinstance(body, ProblemError):
                    raise body
                ready.append(await self.writes.prepare(body, domain_keys=domain_keys))
                outcomes.append(None)
            except ProblemError as exc:
                outcomes.append(exc)
        done: list[Outcome] = []
        try:
            async with transaction(self.sessions) as session:
                added = iter(await self.writes.add(session, owner_id, ready))
                done = [next(added) if o is None else o for o in outcomes]
                if dry_run or (atomic and failures(done)):
                    raise _RollBack
        except _RollBack:
            failed = failures(done)
            if dry_run:
                return done
            raise BATCH_REFUSED(
                f"{len(failed)} of {len(done)} links could not be created, so none was.",
                errors=[problem.as_dict(index=i) for i, problem in failed],
            ) from None
        await self.writes.announce([created(o) for o in done if isinstance(o, Link)])
        return done

    # --- links named by slugs or by a tag ----------------------------------------------------

    async def _select(
        self, session: AsyncSession, owner_id: int | None, selection: BulkSelection
    ) -> list[Outcome]:
        """The links a batch names, in its order: each a link, or why a slug names none."""
        repo = BulkLinkRepository(session)
        if selection.tag is not None:
            domain = None
            if selection.domain is not None:
                domain = await self.domains.lookup_key(selection.domain)
                if domain is None:  # no such domain: no links there
                    return []
            found = await repo.tagged(
                selection.tag, owner_id=owner_id, domain=domain, limit=MAX_BATCH + 1
            )
            if len(found) > MAX_BATCH:
                raise BATCH_TOO_LARGE(
                    f"More than {MAX_BATCH} links have the tag '{selection.tag}': name them "
                    f"by `slugs`, at most {MAX_BATCH} a request."
                )
            return list(found)
        slugs = selection.slugs or []
        key = await self.domains.lookup_key(selection.domain)
        by_slug = {} if key is None else await repo.by_slugs(slugs, domain=key, owner_id=owner_id)
        return [by_slug.get(slug) or unknown(slug) for slug in slugs]

    async def retag(
        self,
        owner_id: int | None,
        selection: BulkSelection,
        add: Sequence[str],
        remove: Sequence[str],
        charge: Charge | None = None,
    ) -> list[Outcome]:
        """Give the selected links of the owner (None: anyone's, for an admin) the tags `add`
        and take `remove` off them; each link as it is now, or why it could not be changed.
        No redirect depends on tags: the caches are not told."""
        async with transaction(self.sessions) as session:
            selected = await self._select(session, owner_id, selection)
            if charge is not None:
                await charge(len(selected))
            outcomes, tagged = self._tags_of(selected, add, remove)
            if tagged:
                rows = [(i, t) for i, tags in tagged.items() for t in tags]
                await BulkLinkRepository(session).change_tags(
                    sorted(tagged), rows, sorted(set(remove)), utc_now()
                )
                changed = {link.id: link for link in await LinkQueries(session).by_ids([*tagged])}
                outcomes = [changed.get(o.id, o) if isinstance(o, Link) else o for o in outcomes]
        return outcomes

    @staticmethod
    def _tags_of(
        selected: list[Outcome], add: Sequence[str], remove: Sequence[str]
    ) -> tuple[list[Outcome], dict[int, list[str]]]:
        """Each selected link, or the 422 it would get for too many tags; and the tags to add
        to each link that changes (by id; a link named twice changes once)."""
        outcomes: list[Outcome] = []
        tagged: dict[int, list[str]] = {}
        for outcome in selected:
            if isinstance(outcome, Link):
                has = set(outcome.values.tags)
                after = (has | set(add)) - set(remove)
                if len(after) > MAX_TAGS_PER_LINK:
                    problem = field_problem("tags", f"at most {MAX_TAGS_PER_LINK} tags a link")
                    problem.extra["slug"] = outcome.slug
                    outcome = problem
                elif after != has:
                    tagged[outcome.id] = sorted(after - has)
            outcomes.append(outcome)
        return outcomes, tagged

    async def delete(
        self, owner_id: int | None, selection: BulkSelection, charge: Charge | None = None
    ) -> list[Outcome]:
        """Delete the selected links of the owner (None: anyone's, for an admin), and tell
        every cache, as a single delete does; each link deleted, or why it could not be. A
        link named twice is not found the second time, as a second single delete would."""
        async with transaction(self.sessions) as session:
            selected = await self._select(session, owner_id, selection)
            if charge is not None:
                await charge(len(selected))
            outcomes: list[Outcome] = []
            gone: dict[int, Link] = {}
            for outcome in selected:
                if isinstance(outcome, Link):
                    if outcome.id in gone:
                        outcome = unknown(outcome.slug)
                    else:
                        gone[outcome.id] = outcome
                outcomes.append(outcome)
            await self.writes.remove(session, list(gone.values()))
        await self.writes.announce([deleted(link) for link in gone.values()])
        return outcomes
