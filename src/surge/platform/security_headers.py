"""Response headers that make a browser safe with Surge's answers.

Every answer: `X-Content-Type-Options: nosniff` (a JSON body is never run as a script) and a
`Referrer-Policy` (API URLs carry cursors and search terms; they stay on this site). HTML gets a
strict `Content-Security-Policy`: Surge's own pages load nothing from anywhere, and may not be
framed. The interactive API docs (`/docs`, Swagger UI from its CDN) get the one policy that lets
them work. HSTS when the public URL is https: browsers then never try the short domain over
plain http, where a redirect could be tampered with.

Redirects get only HSTS (when https), in their prebuilt headers: a 302 with no body has nothing
to sniff, and a Referrer-Policy there would change what the link's target sees as referrer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
RESPONSE_HEADERS = "surge.response_headers"  # scope key: headers a request's handling set

NOSNIFF = (b"x-content-type-options", b"nosniff")
REFERRER_POLICY = (b"referrer-policy", b"strict-origin-when-cross-origin")
PAGE_CSP = (
    b"content-security-policy",
    b"default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)
DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    b"style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: "
    b"https://fastapi.tiangolo.com https://cdn.jsdelivr.net; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)
# The dashboard: its own styles, script and images (charts, QR codes), nothing from elsewhere.
APP_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HSTS = (b"strict-transport-security", b"max-age=63072000")


def transport_headers(public_url: str) -> Headers:
    """What every answer of a Surge behind `public_url` carries: HSTS when it is https."""
    return [HSTS] if public_url.startswith("https://") else []


def page_headers(public_url: str) -> Headers:
    """The headers of an HTML-or-problem page Surge renders itself."""
    return [NOSNIFF, REFERRER_POLICY, PAGE_CSP, *transport_headers(public_url)]


def add_response_headers(scope: Scope, headers: dict[str, str]) -> None:
    """Headers the answer to this request must carry whatever the route returns (a rate
    limit's `RateLimit-*`); a name set again replaces its earlier value."""
    found: dict[bytes, bytes] = scope.setdefault(RESPONSE_HEADERS, {})
    found.update((name.lower().encode(), value.encode()) for name, value in headers.items())


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above to every response of an app, and those
    the request's handling asked for (`add_response_headers`)."""

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.always = [NOSNIFF, REFERRER_POLICY, *transport_headers(public_url)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = DOCS_CSP if path in DOCS_PATHS else APP_CSP if path.startswith("/app/") else PAGE_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers += self.always
                added: dict[bytes, bytes] | None = scope.get(RESPONSE_HEADERS)
                if added:
                    present = {name.lower() for name, _ in headers}
                    headers += [(n, v) for n, v in added.items() if n not in present]
                if any(n == b"content-type" and v.startswith(b"text/html") for n, v in headers):
                    headers.append(csp)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
