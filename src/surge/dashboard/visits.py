"""Deleting a link's visits from the dashboard: a confirmation page, then the deletion (the
API's `DELETE /api/v1/links/{slug}/visits`), then the link's page saying how many went."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from surge.dashboard.links import DomainParam, OwnedLink
from surge.dashboard.notes import note_deleted_visits
from surge.dashboard.pages import CheckedForm, SignedIn, link_path, render, see_other
from surge.links.deps import LinkServiceDep

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/links/{slug}/visits/delete")
async def delete_visits_confirm(request: Request, user: SignedIn, link: OwnedLink) -> Response:
    return render(request, "confirm_delete_visits.html", user, link=link)


@router.post("/links/{slug}/visits/delete", dependencies=[CheckedForm])
async def delete_visits(
    request: Request,
    slug: str,
    user: SignedIn,
    link: OwnedLink,
    links: LinkServiceDep,
    domain: DomainParam = None,
) -> Response:
    deleted = await links.delete_visits(user.owner_scope, slug, domain)
    note_deleted_visits(request, link.short_url, deleted)
    return see_other(link_path(request, link))
