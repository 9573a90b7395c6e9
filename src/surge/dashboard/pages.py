"""What every dashboard page shares: templates, the signed-in user, CSRF on every form."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from surge.accounts.deps import UserServiceDep
from surge.accounts.user_repository import User
from surge.dashboard.sessions import csrf_ok, csrf_token, current_user
from surge.links.schemas import LinkOut
from surge.platform.deps import SettingsDep

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


async def require_user(request: Request, users: UserServiceDep, settings: SettingsDep) -> User:
    user = await current_user(request, users, settings.session_ttl_hours * 3600)
    if user is None:
        raise SignInRequired
    return user


SignedIn = Annotated[User, Depends(require_user)]


async def require_admin_user(user: SignedIn) -> User:
    if not user.is_admin:
        raise SignInRequired  # an admin page is not there for others
    return user


AdminUser = Annotated[User, Depends(require_admin_user)]


async def verify_csrf(request: Request) -> None:
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(request, token if isinstance(token, str) else None):
        raise CsrfRefused


CheckedForm = Depends(verify_csrf)


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


async def csrf_refused(request: Request, _exc: Exception) -> Response:
    return render(
        request,
        "message.html",
        None,
        status_code=403,
        title="Form expired",
        message="This form was not sent by this session's page. Reload the page and try again.",
    )
