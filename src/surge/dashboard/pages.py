"""What every dashboard page shares: templates, the signed-in user, CSRF on every form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from surge.accounts.deps import UserServiceDep
from surge.accounts.user_repository import User
from surge.dashboard.sessions import csrf_ok, csrf_token, current_user
from surge.links.schemas import LinkOut
from surge.platform.deps import SettingsDep
from surge.platform.problems import ProblemError
from surge.platform.validation import error_message

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["csrf_token"] = csrf_token


def on_other_domain(request: Request, link: LinkOut) -> bool:
    """Whether the link is on a domain other than the default one."""
    return bool(link.domain != request.app.state.domain_service.default_host)


def link_path(request: Request, link: LinkOut, suffix: str = "", **params: str) -> str:
    """The dashboard's path of a link's page (`suffix`: /edit, /delete, /qr.svg, ...): a link
    on a domain other than the default one carries it in `?domain=`."""
    query = dict(params)
    if on_other_domain(request, link):
        query["domain"] = link.domain
    path = f"/app/links/{link.slug}{suffix}"
    return f"{path}?{urlencode(query)}" if query else path


templates.env.globals["link_path"] = link_path
templates.env.globals["on_other_domain"] = on_other_domain


class SignInRequired(Exception):
    """Raised by a page that needs a user; answered with a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token."""


class AdminsOnly(Exception):
    """A signed-in user who is no admin asked for an admin's page."""

    def __init__(self, user: User) -> None:
        super().__init__(user.email)
        self.user = user


async def require_user(request: Request, users: UserServiceDep, settings: SettingsDep) -> User:
    user = await current_user(request, users, settings.session_ttl_hours * 3600)
    if user is None:
        raise SignInRequired
    return user


SignedIn = Annotated[User, Depends(require_user)]


async def require_admin_user(user: SignedIn) -> User:
    if not user.is_admin:
        raise AdminsOnly(user)
    return user


AdminUser = Annotated[User, Depends(require_admin_user)]


async def verify_csrf(request: Request) -> None:
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(request, token if isinstance(token, str) else None):
        raise CsrfRefused


CheckedForm = Depends(verify_csrf)


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's text fields (a form of plain inputs: one value each)."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def form_errors(
    exc: ValidationError | ProblemError, labels: Mapping[str, str] | None = None
) -> list[str]:
    """What a form's values got wrong, a line each: a problem's detail, or each field's
    message, the field by its label when `labels` has it (pydantic's "Value error, " prefix
    dropped: people read these)."""
    if isinstance(exc, ProblemError):
        return [exc.detail or exc.problem.title]
    found = []
    for error in exc.errors():
        field = ".".join(map(str, error["loc"])) or "form"
        message = error_message(error)
        found.append(f"{(labels or {}).get(field, field)}: {message}")
    return found


def utc_field(value: str) -> str:
    """A datetime-local field (YYYY-MM-DDTHH:MM, no zone) as an RFC 3339 time in UTC; any
    other text as it is."""
    return f"{value}:00Z" if len(value) == 16 else value


def error_status(exc: ValidationError | ProblemError) -> int:
    return exc.status if isinstance(exc, ProblemError) else 422


def render(
    request: Request, name: str, user: User | None, status_code: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request, name, {"user": user, **context}, status_code=status_code
    )


def see_other(path: str) -> RedirectResponse:
    """After a successful POST: the page to show, fetched with GET (no resubmission)."""
    return RedirectResponse(path, status_code=303)


async def sign_in_required(request: Request, _exc: Exception) -> Response:
    return see_other(f"/app/sign-in?next={request.url.path}")


async def admins_only(request: Request, exc: Exception) -> Response:
    # Signed in already: a sign-in form would not help them, a plain refusal says why.
    assert isinstance(exc, AdminsOnly)
    return render(
        request,
        "message.html",
        exc.user,
        status_code=403,
        title="Admins only",
        message="This page is for Surge's admins. Ask one if you need a change made here.",
    )


async def csrf_refused(request: Request, _exc: Exception) -> Response:
    return render(
        request,
        "message.html",
        None,
        status_code=403,
        title="Form expired",
        message="This form was not sent by this session's page. Reload the page and try again.",
    )
