"""Dashboard pages of short domains (admins): the list, add one, change its redirects, remove
one. The same DomainService and the same request bodies as the domains API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.responses import Response

from surge.accounts.user_repository import User
from surge.dashboard.pages import (
    AdminUser,
    CheckedForm,
    error_status,
    form_errors,
    form_fields,
    render,
    see_other,
)
from surge.domains.deps import DomainServiceDep
from surge.domains.hosts import HOST_JSON_MAX_LENGTH
from surge.domains.schemas import DomainRedirectsIn
from surge.domains.service import DomainService
from surge.platform.problems import ProblemError

router = APIRouter(prefix="/app/admin/domains", include_in_schema=False)
PAGE = "/app/admin/domains"
# A host as the page's forms name it; what is no host name the service answers with a 404.
HostPath = Annotated[str, Path(max_length=HOST_JSON_MAX_LENGTH)]
REDIRECT_LABELS = {
    "root_url": "Where / goes",
    "not_found_url": "Where an unknown slug goes",
    "expired_url": "Where an expired link goes",
}
LABELS = {"host": "Domain name", **REDIRECT_LABELS}


async def _page(
    request: Request,
    user: User,
    domains: DomainService,
    status: int = 200,
    *,
    failed: str | None = None,
    values: dict[str, str] | None = None,
    refusal: ValidationError | ProblemError | None = None,
) -> Response:
    """The list; after a refused change, the form that was sent (`failed`: "" the add form,
    else the domain's host) again with its `values` and what was wrong."""
    return render(
        request,
        "domains.html",
        user,
        status,
        domains=await domains.all(),
        failed=failed,
        values=values or {},
        errors=form_errors(refusal, LABELS) if refusal else [],
        redirect_labels=REDIRECT_LABELS,
    )


def _redirects(form: dict[str, str]) -> DomainRedirectsIn:
    """The three redirect fields (an empty one: none, Surge's own page)."""
    return DomainRedirectsIn.model_validate(
        {name: form.get(name, "").strip() or None for name in REDIRECT_LABELS}
    )


@router.get("")
async def domain_list(request: Request, user: AdminUser, domains: DomainServiceDep) -> Response:
    return await _page(request, user, domains)


async def _change(
    request: Request,
    user: User,
    domains: DomainService,
    failed: str,
    change: Callable[[dict[str, str]], Awaitable[None]],
) -> Response:
    """Apply what a form asks (`failed` names the form: "" the add form, else its domain's
    host) and show the list; when refused (a bad value, a name taken, links still on the
    domain: the service says which), the list with what was wrong and the form as sent."""
    form = await form_fields(request)
    try:
        await change(form)
    except (ValidationError, ProblemError) as exc:
        if isinstance(exc, ProblemError) and exc.status == 404:
            raise
        # A remove button sends no redirects: its domain keeps showing the stored ones.
        sent = form if form.keys() & {"host", *REDIRECT_LABELS} else None
        return await _page(
            request, user, domains, error_status(exc), failed=failed, values=sent, refusal=exc
        )
    return see_other(PAGE)


@router.post("", dependencies=[CheckedForm])
async def domain_add(request: Request, user: AdminUser, domains: DomainServiceDep) -> Response:
    async def add(form: dict[str, str]) -> None:
        # The service reads the name (any case, a port, an IDN) and says what is wrong with it.
        await domains.add(form.get("host", ""), _redirects(form).redirects())

    return await _change(request, user, domains, "", add)


@router.post("/{host}/redirects", dependencies=[CheckedForm])
async def domain_redirects(
    request: Request, host: HostPath, user: AdminUser, domains: DomainServiceDep
) -> Response:
    async def set_redirects(form: dict[str, str]) -> None:
        await domains.set_redirects(host, _redirects(form).redirects())

    return await _change(request, user, domains, host, set_redirects)


@router.post("/{host}/remove", dependencies=[CheckedForm])
async def domain_remove(
    request: Request, host: HostPath, user: AdminUser, domains: DomainServiceDep
) -> Response:
    async def remove(_form: dict[str, str]) -> None:
        await domains.remove(host)

    return await _change(request, user, domains, host, remove)
