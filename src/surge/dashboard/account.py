"""Dashboard pages of accounts: sign in and out, one's API keys, and (admins) users."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from surge.accounts.deps import ApiLimitsDep, KeyServiceDep, UserServiceDep
from surge.accounts.keys import KeyLifetimeDays, KeyName
from surge.accounts.users import AccountError
from surge.dashboard.pages import (
    AdminUser,
    CheckedForm,
    SignedIn,
    render,
    see_other,
)
from surge.dashboard.sessions import sign_in, sign_out

router = APIRouter(prefix="/app", include_in_schema=False)


def _next_page(next_path: str | None) -> str:
    # Only a dashboard page: a sign-in link must not send people to another site.
    if next_path and next_path.startswith("/app/") and not next_path.startswith("/app//"):
        return next_path
    return "/app/overview"


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", None, next=_next_page(next))


@router.post("/sign-in", dependencies=[CheckedForm])
async def sign_in_submit(
    request: Request,
    users: UserServiceDep,
    limits: ApiLimitsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/app/overview",
) -> Response:
    if await limits.sign_in_refused(request, email):
        return render(
            request,
            "sign_in.html",
            None,
            status_code=429,
            next=_next_page(next),
            email=email,
            error="Too many attempts. Wait a minute and try again.",
        )
    user = await users.sign_in(email, password)
    if user is None:
        await limits.sign_in_failed(request, email)
        return render(
            request,
            "sign_in.html",
            None,
            status_code=401,
            next=_next_page(next),
            email=email,
            error="Wrong email or password.",
        )
    sign_in(request, user)
    return see_other(_next_page(next))


@router.post("/sign-out", dependencies=[CheckedForm])
async def sign_out_submit(request: Request) -> Response:
    sign_out(request)
    return see_other("/app/sign-in")


# --- API keys ----------------------------------------------------------------------------------


@router.get("/keys")
async def key_list(request: Request, user: SignedIn, keys: KeyServiceDep) -> Response:
    return render(request, "keys.html", user, keys=await keys.all(user.id))


@router.post("/keys", dependencies=[CheckedForm])
async def key_create(
    request: Request,
    user: SignedIn,
    keys: KeyServiceDep,
    name: Annotated[KeyName, Form()],
    expires_in_days: Annotated[KeyLifetimeDays | None, Form()] = None,
) -> Response:
    if not name.strip() or not name.isprintable():
        return render(
            request, "keys.html", user, 422, keys=await keys.all(user.id), error="Name it."
        )
    made = await keys.create(
        name.strip(),
        user_id=user.id,
        expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return render(request, "keys.html", user, 201, keys=await keys.all(user.id), new_key=made)


@router.post("/keys/{key_id}/revoke", dependencies=[CheckedForm])
async def key_revoke(key_id: int, user: SignedIn, keys: KeyServiceDep) -> Response:
    await keys.revoke(key_id, user_id=user.id)  # only one's own
    return see_other("/app/keys")


# --- users (admins) ----------------------------------------------------------------------------


@router.get("/admin/users")
async def user_list(request: Request, user: AdminUser, users: UserServiceDep) -> Response:
    return render(request, "users.html", user, users=await users.all())


@router.post("/admin/users", dependencies=[CheckedForm])
async def user_create(
    request: Request,
    user: AdminUser,
    users: UserServiceDep,
    email: Annotated[str, Form(max_length=254)],
    admin: Annotated[bool, Form()] = False,
) -> Response:
    try:
        made = await users.create(email, is_admin=admin)
    except AccountError as exc:
        return render(request, "users.html", user, 422, users=await users.all(), error=str(exc))
    return render(request, "users.html", user, 201, users=await users.all(), new_user=made)


@router.post("/admin/users/{user_id}/{action}", dependencies=[CheckedForm])
async def user_toggle(
    user_id: int, action: str, user: AdminUser, users: UserServiceDep
) -> Response:
    if action in ("disable", "enable") and user_id != user.id:  # not oneself
        await users.set_disabled(user_id, action == "disable")
    return see_other("/app/admin/users")
