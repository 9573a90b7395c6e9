"""Password-protected links at the redirect: the password page, the signed cookie a right
password earns, and `POST /{slug}` that checks one (kept apart from the hot path, which only
asks `Target.simple`).

A browser gets a small form (no script, a CSP that allows only its own inline style, posting
back to this URL and following where that redirects); any other client a 401 problem. The
password is checked by the api (argon2, in its worker threads), after two rate limits here: per
client IP and link, and per link. A
right one answers 303 to the target with a cookie for that link alone (host-only, its path, a
signature over the link's id, an expiry and a digest of its password hash, so a new password
voids it) and counts the click; later requests with the cookie are redirected as usual.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from surge.data.contracts import Unlock
from surge.platform.http import client_ip
from surge.platform.problems import (
    PASSWORD_REQUIRED,
    PROBLEM_CONTENT_TYPE,
    RATE_LIMITED,
    WRONG_PASSWORD,
    ProblemType,
)
from surge.redirect.responses import NO_STORE, Headers

if TYPE_CHECKING:
    from surge.platform.rate_limits import Limit
    from surge.redirect.responses import Target

COOKIE = b"surge_unlock"
MAX_FORM_BYTES = 4096
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:15vh auto;padding:0 1rem}"
    "input,button{font:inherit;padding:.4rem .6rem;margin:.3rem 0}input{width:100%;"
    "box-sizing:border-box}.error{color:#b00020}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
FORM_HEADERS: Headers = [
    (b"content-type", b"text/html; charset=utf-8"),
    NO_STORE,
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        # form-action also governs where the form's answer redirects to: the link's target,
        # which may be any http(s) URL.
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self' http: https:; "
        "base-uri 'none'; frame-ancestors 'none'".encode(),
    ),
]


def password_form(slug: str, error: str | None) -> bytes:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>Password required</title><style>{_STYLE}</style></head><body>"
        f"<h1>Password required</h1><p>The link <strong>/{escape(slug)}</strong> is protected."
        f"</p>{message}<form method=post>"
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" required '
        'autocomplete="current-password" autofocus>'
        "<button type=submit>Continue</button></form></body></html>"
    ).encode()


class UnlockCookies:
    """The cookie a right password earns: `{link_id}.{expires}.{signature}`."""

    def __init__(self, secret: str, ttl_s: float, secure: bool) -> None:
        # A key of its own, derived from the internal token every replica shares.
        self.key = hmac.new(secret.encode(), b"surge link unlock cookie", "sha256").digest()
        self.ttl_s = int(ttl_s)
        self.secure = secure

    def _signature(self, link_id: int, expires: int, lock: str) -> str:
        message = f"{link_id}.{expires}.{lock}".encode()
        return hmac.new(self.key, message, "sha256").hexdigest()[:32]

    def set_cookie(self, target: Target, now: float) -> tuple[bytes, bytes]:
        assert target.lock is not None
        expires = int(now) + self.ttl_s
        value = (
            f"{target.link_id}.{expires}.{self._signature(target.link_id, expires, target.lock)}"
        )
        attributes = f"Path=/{target.slug}; Max-Age={self.ttl_s}; HttpOnly; SameSite=Lax"
        if self.secure:
            attributes += "; Secure"
        return b"set-cookie", f"{COOKIE.decode()}={value}; {attributes}".encode()

    def opens(self, scope: Scope, target: Target, now: float) -> bool:
        """Whether the request carries a valid cookie for this link and its password."""
        assert target.lock is not None
        for name, value in scope["headers"]:
            if name != b"cookie":
                continue
            for pair in value.split(b";"):
                cookie_name, _, cookie = pair.strip().partition(b"=")
                if cookie_name == COOKIE and self._valid(cookie, target, now):
                    return True
        return False

    def _valid(self, cookie: bytes, target: Target, now: float) -> bool:
        parts = cookie.decode("latin-1").split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return False
        link_id, expires = int(parts[0]), int(parts[1])
        if link_id != target.link_id or expires <= now:
            return False
        assert target.lock is not None
        return hmac.compare_digest(parts[2], self._signature(link_id, expires, target.lock))


def wants_html(scope: Scope) -> bool:
    return any(name == b"accept" and b"text/html" in value for name, value in scope["headers"])


@dataclass(slots=True, frozen=True)
class Locked:
    """Why a protected link answered instead of redirecting: to a browser, the form and its
    message; to any other client, the problem."""

    status: int
    problem: ProblemType
    message: str | None  # on the form
    detail: str  # in the problem


PASSWORD_NEEDED = Locked(
    401,
    PASSWORD_REQUIRED,
    None,
    "This link is protected by a password: open it in a browser to enter it.",
)
PASSWORD_WRONG = Locked(
    401, WRONG_PASSWORD, "Wrong password. Try again.", "That password does not open this link."
)
TOO_MANY_ATTEMPTS = Locked(
    429,
    RATE_LIMITED,
    "Too many attempts. Wait a minute, then try again.",
    "Too many password attempts for this link.",
)


async def send_locked(
    scope: Scope, send: Send, slug: str, *, extra: Headers, why: Locked = PASSWORD_NEEDED
) -> int:
    """The form for a browser, else a problem; never the target."""
    if wants_html(scope):
        body = password_form(slug, why.message)
        headers = FORM_HEADERS
    else:
        body = why.problem.body(why.detail)
        headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), NO_STORE]
    headers = [*headers, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": why.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
    return why.status


async def read_password(receive: Receive) -> str | None:
    """The `password` of a posted form; None when the body is not one, or too big."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body"):
            break
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("password")
    return values[0] if values else None


def unlock_body(password: str) -> bytes:
    return Unlock(password=password[:1024]).model_dump_json().encode()


async def attempt_allowed(
    scope: Scope, target: Target, ip_header: bytes, per_ip: Limit | None, per_link: Limit | None
) -> tuple[bool, int]:
    """(whether this attempt may be checked, seconds until the next may be when not)."""
    link = str(target.link_id)
    for limit, identity in (
        (per_ip, f"{client_ip(scope, ip_header)}|{link}"),
        (per_link, link),
    ):
        if limit is None:
            continue
        verdict = await limit.hit(identity)
        if not verdict.allowed:
            limit.refuse(verdict, "")  # counts the refusal in surge_rate_limited_total
            return False, max(1, verdict.reset_s)
    return True, 0
