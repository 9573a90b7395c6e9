"""Prebuilt bodies and headers of the redirect service's answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from surge.data.contracts import DomainEntry
from surge.data.events import target_label
from surge.data.locations import Destination, location_of
from surge.data.rule_matching import Matcher, compile_rules
from surge.data.rules import RedirectRule
from surge.platform.problems import (
    LINK_EXPIRED,
    LINK_NOT_FOUND,
    LINKS_UNAVAILABLE,
    PROBLEM_CONTENT_TYPE,
    UNKNOWN_DOMAIN,
    ProblemType,
)
from surge.platform.problems import (
    METHOD_NOT_ALLOWED as METHOD_NOT_ALLOWED_PROBLEM,
)

Headers = list[tuple[bytes, bytes]]


class ApiUnavailable(Exception):
    """The api did not answer a question about a link or a domain (after its retries)."""


NO_STORE = (b"cache-control", b"private, max-age=0")


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
    # No rules, no password, no start date: the usual case, one attribute check on the hot path.
    simple: bool = True
    # Its redirect rules, compiled into one function, with each one's headers; None: none.
    rules: Matcher | None = None
    rule_headers: tuple[Headers, ...] = ()
    # What a click is recorded as having been sent to: the link's URL, then each rule's.
    labels: tuple[str, ...] = ()
    # Where the visitor's query string is merged in, the link's URL then each rule's target;
    # None: the link does not forward it.
    forwarding: tuple[Destination, ...] | None = None
    valid_since: float | None = None  # before it the link answers as unknown
    lock: str | None = None  # the password's fingerprint; None: not protected
    # True when a start date or a password may keep a request from its target (None: neither).
    gated: bool | None = None
    # `headers` as granian's RSGI takes them (str), made by its first native redirect.
    native_headers: list[tuple[str, str]] | None = None

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
        rules: Sequence[RedirectRule] = (),
        *,
        forward_query: bool = False,
        valid_since: float | None = None,
        lock: str | None = None,
    ) -> Target:
        """`extra`: headers every redirect carries (HSTS on an https short domain)."""

        def redirect_to(location: str) -> Headers:
            headers = [(b"location", location_of(location)), (b"content-length", b"0"), *extra]
            # Temporary: every click comes back to us and is counted. A link with rules or a
            # password is never cached by browsers: the next request may go elsewhere, or
            # need the password again.
            if status in (302, 307) or rules or lock:
                headers.append(NO_STORE)
            return headers

        target = cls(link_id, slug, status, expires_at, max_clicks, clicks_before, redirect_to(url))
        target.valid_since = valid_since
        target.lock = lock
        target.simple = not rules and valid_since is None and lock is None
        target.gated = True if valid_since is not None or lock is not None else None
        if rules:
            target.rules = compile_rules(rules)
            target.rule_headers = tuple(redirect_to(rule.url) for rule in rules)
            target.labels = tuple(target_label(u) for u in (url, *(r.url for r in rules)))
        if forward_query:
            target.forwarding = tuple(
                Destination.of(h) for h in (target.headers, *target.rule_headers)
            )
        return target


@dataclass(slots=True, frozen=True)
class Site:
    """How requests with one Host are served: the key its links are cached under ('' for the
    default domain), and the 302s of its redirects (None: Surge's page), built once."""

    key: str
    root: Headers | None
    not_found: Headers | None
    expired: Headers | None

    @classmethod
    def of(cls, entry: DomainEntry, extra: Headers) -> Site:
        def found(url: str | None) -> Headers | None:
            if url is None:
                return None
            return [(b"location", location_of(url)), (b"content-length", b"0"), NO_STORE, *extra]

        # The default domain's `/` is SURGE_ROOT_REDIRECT for browsers only (the redirect
        # service decides by Accept); other domains send every client to theirs.
        root = None if not entry.key else found(entry.root_url)
        return cls(entry.key, root, found(entry.not_found_url), found(entry.expired_url))


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
UNKNOWN_HOST = _page(UNKNOWN_DOMAIN, "This short domain is not served here.")
METHOD_NOT_ALLOWED = _page(METHOD_NOT_ALLOWED_PROBLEM, "Use GET or HEAD.")
