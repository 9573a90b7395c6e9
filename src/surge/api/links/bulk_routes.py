"""The links API's batches (`/api/v1/links/bulk...`): many links created, tagged or deleted in
one request. Each item is answered in its place as a single request would have answered it;
a batch of N costs N requests of the key's rate limit (and N links of its daily quota)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request

from surge.accounts.deps import ApiLimitsDep, CurrentKey
from surge.links.bulk import Charge, Outcome
from surge.links.bulk_schemas import (
    BulkCreate,
    BulkDeletions,
    BulkResults,
    BulkSelection,
    BulkTagging,
    DeletedLink,
    ItemProblem,
)
from surge.links.deps import BulkLinksDep
from surge.links.schemas import LinkOut
from surge.platform.deps import SettingsDep
from surge.platform.problems import (
    BATCH_REFUSED,
    BATCH_TOO_LARGE,
    UNAUTHORIZED,
    ProblemError,
    problem_responses,
)

router = APIRouter(prefix="/api/v1/links/bulk", tags=["links"])


def _problem(index: int, problem: ProblemError) -> ItemProblem:
    return ItemProblem.model_validate(problem.as_dict(index=index))


def _results(outcomes: Sequence[Outcome], public_url: str) -> BulkResults:
    return BulkResults(
        results=[
            _problem(i, o) if isinstance(o, ProblemError) else LinkOut.of(o, public_url)
            for i, o in enumerate(outcomes)
        ]
    )


@router.post("", responses=problem_responses(UNAUTHORIZED, BATCH_REFUSED))
async def create_links(
    request: Request,
    body: BulkCreate,
    key: CurrentKey,
    bulk: BulkLinksDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
) -> BulkResults:
    """Create up to 1,000 links in one request (one transaction). 200 with one result per
    item, in order: the link as `POST /api/v1/links` answers it, or the problem that request
    would have answered, with the item's `index`. With `atomic`, 200 only when every link was
    created; otherwise 422 `batch-refused` and nothing is created."""
    count = len(body.links)
    await limits.batch(request, key.id, count)
    await limits.link_created(request, key.id, count)
    outcomes = await bulk.create(key.user_id, body.links, atomic=body.atomic)
    return _results(outcomes, settings.public_url)


def _charge(request: Request, limits: ApiLimitsDep, key_id: int) -> Charge:
    """A batch that names its links by a tag costs what it finds: known once they are read."""

    async def charge(count: int) -> None:
        await limits.batch(request, key_id, count)

    return charge


@router.post("/tags", responses=problem_responses(UNAUTHORIZED, BATCH_TOO_LARGE))
async def tag_links(
    request: Request,
    body: BulkTagging,
    key: CurrentKey,
    bulk: BulkLinksDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
) -> BulkResults:
    """Add and remove tags on up to 1,000 links, named by `slugs` or by a `tag` they have.
    One result per link, in order: the link as it is now, or the problem (e.g. 404 for a slug
    the key cannot see) with its `index` and `slug`."""
    outcomes = await bulk.retag(
        key.owner_scope, body, body.add, body.remove, _charge(request, limits, key.id)
    )
    return _results(outcomes, settings.public_url)


@router.post("/delete", responses=problem_responses(UNAUTHORIZED, BATCH_TOO_LARGE))
async def delete_links(
    request: Request,
    body: BulkSelection,
    key: CurrentKey,
    bulk: BulkLinksDep,
    limits: ApiLimitsDep,
    settings: SettingsDep,
) -> BulkDeletions:
    """Delete up to 1,000 links, named by `slugs` or by a `tag` they have, as `DELETE
    /api/v1/links/{slug}` does each (redirects stop at once). One result per link, in order:
    `deleted`, or the problem with its `index` and `slug`."""
    outcomes = await bulk.delete(key.owner_scope, body, _charge(request, limits, key.id))
    host = LinkOut.default_host(settings.public_url)
    return BulkDeletions(
        results=[
            _problem(i, o)
            if isinstance(o, ProblemError)
            else DeletedLink(slug=o.slug, domain=o.domain or host)
            for i, o in enumerate(outcomes)
        ]
    )
