"""Dashboard sessions: who is signed in, and the CSRF token of their forms.

The session lives in a cookie signed by Starlette's SessionMiddleware (itsdangerous):
HttpOnly, SameSite=Lax, path /app, Secure when the public URL is https. It holds the user's id,
when they signed in, and a random CSRF token. A session older than `session_ttl_hours`, or of a
user since disabled, is no session. Every form carries the token and every POST checks it
(synchronizer token): SameSite=Lax already keeps other sites' POSTs from carrying the cookie,
the token also covers older browsers and same-site attackers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from surge.accounts.user_repository import User
from surge.accounts.users import UserService
from surge.platform.clock import unix_time
from surge.platform.replicas import reading_as

USER = "uid"
SIGNED_IN_AT = "iat"
CSRF = "csrf"


def session_key(internal_token: str) -> str:
    """The cookie-signing key, derived from the internal token (one secret fewer to manage)."""
    return hmac.new(
        internal_token.encode(), b"surge dashboard sessions", hashlib.sha256
    ).hexdigest()


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use (also before signing in: the sign-in form
    has one too)."""
    token = request.session.get(CSRF)
    if not isinstance(token, str):
        token = request.session[CSRF] = secrets.token_urlsafe(24)
    return token


def csrf_ok(request: Request, presented: str | None) -> bool:
    expected = request.session.get(CSRF)
    return (
        isinstance(expected, str)
        and presented is not None
        and hmac.compare_digest(expected.encode(), presented.encode())
    )


def sign_in(request: Request, user: User) -> None:
    request.session.clear()  # a new session on sign-in: no fixation of an old one
    request.session.update({USER: user.id, SIGNED_IN_AT: unix_time()})
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def session_fresh(signed_in_at: object, ttl_s: float, now: float) -> bool:
    return isinstance(signed_in_at, int | float) and 0 <= now - signed_in_at < ttl_s


async def current_user(request: Request, users: UserService, ttl_s: float) -> User | None:
    """The signed-in user, if the session is fresh and the user still active."""
    user_id = request.session.get(USER)
    if not isinstance(user_id, int):
        return None
    if not session_fresh(request.session.get(SIGNED_IN_AT), ttl_s, unix_time()):
        sign_out(request)
        return None
    user = await users.get(user_id)
    if user is None or not user.active:
        sign_out(request)
        return None
    reading_as(user.id)  # the pages it then reads show its own changes (read-your-writes)
    return user
