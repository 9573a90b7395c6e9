"""The dashboard (`/app/`) as part of the api's FastAPI app: its routes, signed sessions,
static files, and HTML (not problem+json) for its errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from surge.dashboard import (
    account,
    batches,
    domains,
    exports,
    links,
    live,
    orphans,
    overview,
    rules,
    visits,
    webhooks,
)
from surge.dashboard.pages import (
    HERE,
    AdminsOnly,
    CsrfRefused,
    SignInRequired,
    admins_only,
    csrf_refused,
    render,
    sign_in_required,
)
from surge.dashboard.sessions import session_key
from surge.platform.config import Settings
from surge.platform.problems import ProblemError, problem_error_handler, validation_response

ROUTERS = [
    account.router,
    batches.router,
    domains.router,
    exports.router,
    links.router,
    orphans.router,
    rules.router,
    overview.router,
    visits.router,
    live.router,
    webhooks.router,
]


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(settings.internal_token),
        session_cookie="surge_session",
        max_age=int(settings.session_ttl_hours * 3600),
        path="/app",
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(AdminsOnly, admins_only)

    async def problem_page(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/app/"):
            return await problem_error_handler(request, exc)
        assert isinstance(exc, ProblemError)
        return _page(request, exc.status, exc.problem.title, exc.detail or "")

    async def invalid_page(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/app/"):
            return validation_response(request, exc)
        return _page(request, 422, "Invalid request", "Check the address or the form.")

    app.add_exception_handler(ProblemError, problem_page)
    app.add_exception_handler(RequestValidationError, invalid_page)


def _page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "message.html", None, status, title=title, message=message)
