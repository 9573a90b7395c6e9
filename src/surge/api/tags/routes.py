"""The tags API (`/api/v1/tags/{tag}`): a tag renamed or removed on every link of the key's
user at once (an admin key: on everyone's links)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from surge.accounts.deps import CurrentKey
from surge.links.deps import LinkServiceDep
from surge.links.fields import TAG_PATTERN
from surge.links.schemas import TagRename
from surge.platform.problems import NOT_FOUND, TAG_TAKEN, UNAUTHORIZED, not_found, problem_responses

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])
TagPath = Annotated[str, Path(pattern=TAG_PATTERN)]


@router.patch(
    "/{tag}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND, TAG_TAKEN),
)
async def rename_tag(
    tag: TagPath, body: TagRename, key: CurrentKey, links: LinkServiceDep
) -> Response:
    """The tag takes the name `name` on every link that has it; 404 if none has it, 409 if a
    link has a tag of that name already (tags are not merged)."""
    await links.rename_tag(key.owner_scope, tag, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{tag}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UNAUTHORIZED, NOT_FOUND),
)
async def delete_tag(tag: TagPath, key: CurrentKey, links: LinkServiceDep) -> Response:
    """The tag is taken off every link that has it (the links stay); 404 if none has it."""
    if not await links.delete_tags(key.owner_scope, [tag]):
        raise not_found("tag")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
