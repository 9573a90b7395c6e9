"""Where a redirect points: a target URL as a `Location` header, and the visitor's query string
merged into it (query forwarding), for the redirect and for the dashboard's request tester."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

# Characters a URL may keep as they are; everything else (non-ASCII) is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
Headers = list[tuple[bytes, bytes]]


def location_of(url: str) -> bytes:
    return quote(url, safe=_URL_SAFE).encode("ascii")


@dataclass(slots=True, frozen=True)
class Destination:
    """One place a link sends requests (its URL or a rule's), ready to take the visitor's
    query string: the headers without it, and the URL's parts around where it goes."""

    headers: Headers  # the location header first
    before_fragment: bytes
    fragment: bytes  # "#..." or empty
    joiner: bytes  # "&" after the target's own query, else "?"
    keys: frozenset[bytes]  # the target's own query parameters: kept, never overridden

    @classmethod
    def of(cls, headers: Headers) -> Destination:
        location = headers[0][1]
        before, hashed, fragment = location.partition(b"#")
        _path, asked, query = before.partition(b"?")
        keys = frozenset(_query_key(part) for part in query.split(b"&") if part)
        return cls(headers, before, hashed + fragment, b"&" if asked else b"?", keys)

    def with_query(self, query: bytes) -> Headers:
        """The headers with the visitor's query merged in: each of its parameters the target
        does not set itself, in the visitor's order and spelling (a key the target sets keeps
        the target's value)."""
        kept = [part for part in query.split(b"&") if part and _query_key(part) not in self.keys]
        if not kept:
            return self.headers
        merged = quote_from_bytes(b"&".join(kept), safe=_URL_SAFE).encode("ascii")
        location = self.before_fragment + self.joiner + merged + self.fragment
        return [(b"location", location), *self.headers[1:]]


def _query_key(part: bytes) -> bytes:
    return unquote_to_bytes(part.split(b"=", 1)[0].replace(b"+", b" "))


def forwarded(url: str, query: str) -> str:
    """`url` as a Location with the visitor's `query` merged in, as the redirect sends it."""
    destination = Destination.of([(b"location", location_of(url))])
    merged = destination.with_query(query.removeprefix("?").encode())
    return merged[0][1].decode("ascii")
