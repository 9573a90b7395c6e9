"""Prebuilt bodies and headers of the redirect service's answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from surge.platform.problems import (
    LINK_EXPIRED,
    LINK_NOT_FOUND,
    LINKS_UNAVAILABLE,
    PROBLEM_CONTENT_TYPE,
    ProblemType,
)
from surge.platform.problems import (
    METHOD_NOT_ALLOWED as METHOD_NOT_ALLOWED_PROBLEM,
)

Headers = list[tuple[bytes, bytes]]

NO_STORE = (b"cache-control", b"private, max-age=0")
# Characters a URL may keep as they are; everything else (non-ASCII) is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


@dataclass(slots=True)
class Target:
    """A cached link, with its response headers built once."""

    link_id: int
    slug: str
    status: int
    expires_at: float | None
    max_clicks: int | None
    clicks_before: int  # counted by analytics when this entry was loaded
    headers: Headers = field(default_factory=list)
    served: int = 0  # redirects this process served since loading it

    @classmethod
    def build(
        cls,
        link_id: int,
        slug: str,
        url: str,
        status: int,
        expires_at: float | None,
        max_clicks: int | None,
        clicks_before: int,
        extra: Headers,
    ) -> Target:
        """`extra`: headers every redirect carries (HSTS on an https short domain)."""
        location = quote(url, safe=_URL_SAFE).encode("ascii")
        headers: Headers = [(b"location", location), (b"content-length", b"0"), *extra]
        if status in (302, 307):  # temporary: every click comes back to us and is counted
            headers.append(NO_STORE)
        return cls(link_id, slug, status, expires_at, max_clicks, clicks_before, headers)


@dataclass(slots=True, frozen=True)
class Page:
    status: int
    html: bytes
    problem: bytes

    def negotiate(self, accept: bytes) -> tuple[bytes, Headers]:
        if b"text/html" in accept:
            body, media = self.html, b"text/html; charset=utf-8"
        else:
            body, media = self.problem, PROBLEM_CONTENT_TYPE.encode()
        return body, [
            (b"content-type", media),
            (b"content-length", str(len(body)).encode()),
            NO_STORE,
        ]


def _page(problem: ProblemType, detail: str) -> Page:
    title = problem.title
    html = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{detail}</p></body></html>"
    ).encode()
    return Page(problem.status, html, problem.body(detail))


NOT_FOUND = _page(LINK_NOT_FOUND, "This short link does not exist.")
GONE = _page(LINK_EXPIRED, "This short link has expired.")
UNAVAILABLE = _page(LINKS_UNAVAILABLE, "Links are unavailable right now.")
METHOD_NOT_ALLOWED = _page(METHOD_NOT_ALLOWED_PROBLEM, "Use GET or HEAD.")
