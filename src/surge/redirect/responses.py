"""Prebuilt bodies and headers of the redirect service's answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from surge.platform.problems import PROBLEM_CONTENT_TYPE, problem_bytes

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
    ) -> Target:
        location = quote(url, safe=_URL_SAFE).encode("ascii")
        headers: Headers = [(b"location", location), (b"content-length", b"0")]
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


def _page(status: int, name: str, title: str, detail: str) -> Page:
    html = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{detail}</p></body></html>"
    ).encode()
    return Page(status, html, problem_bytes(status, name, title, detail))


NOT_FOUND = _page(404, "link-not-found", "Link not found", "This short link does not exist.")
GONE = _page(410, "link-expired", "Link expired", "This short link has expired.")
UNAVAILABLE = _page(503, "unavailable", "Try again shortly", "Links are unavailable right now.")
METHOD_NOT_ALLOWED = _page(405, "method-not-allowed", "Method not allowed", "Use GET or HEAD.")
