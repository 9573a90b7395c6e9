"""What redirect rules read of a request, each piece read the way the generated matcher
(rule_matching) needs it: the trusted headers' names, the user agent's classification and the
Accept-Language header's tags (both kept, bounded), the query, the client's address, and a
country code's spellings."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from surge.data.rules import accepted_languages, browser_of, device_types

Scope = Mapping[str, Any]
# The trusted country and client-address headers' names (None: not read), as header_names
# settles them for a service.
HeaderNames = tuple[bytes | None, bytes | None]
UA, ACCEPT_LANGUAGE = b"user-agent", b"accept-language"
TAKEN = frozenset({b"referer", UA, ACCEPT_LANGUAGE})
# What rules read of a request's headers: its user agent and Accept-Language (b"": none), the
# trusted country header (None: none) and the client's address (the trusted header's first,
# else the socket's).
RequestValues = tuple[bytes, bytes, bytes | None, str]


def header_names(country: bytes, ip: bytes) -> HeaderNames:
    """The trusted headers' names as the redirect's pass over the headers reads them: it checks
    referer, user-agent and accept-language first, then the country header, then the ip header,
    so a name an earlier check takes is never read as a later one. b"": none (no server passes
    a header without a name)."""
    country_name = None if not country or country in TAKEN else country
    ip_name = None if not ip or ip in TAKEN or ip == country else ip
    return country_name, ip_name


def request_values(scope: Scope, names: HeaderNames) -> RequestValues:
    """What rules read of a request, read as the redirect's own pass reads it (the last of a
    repeated header wins); tests/redirect check that the two agree."""
    country_name, ip_name = names
    ua = accepted = b""
    country = forwarded = None
    for name, value in scope["headers"]:
        if name == UA:
            ua = value
        elif name == ACCEPT_LANGUAGE:
            accepted = value
        elif name == country_name:
            country = value
        elif name == ip_name:
            forwarded = value
    return ua, accepted, country, client_address(forwarded, scope)


def client_address(forwarded: bytes | None, scope: Scope) -> str:
    """The trusted header's first address, else the socket's ('' without one)."""
    if forwarded is not None:
        return forwarded.decode("latin-1").split(",", 1)[0].strip()
    client = scope.get("client")
    return str(client[0]) if client else ""


# User agents and Accept-Language values repeat: each one's parse is kept, keyed by the header's
# bytes, the oldest dropped past the bound (a few hundred bytes an entry). A dict by hand, not
# functools.lru_cache: a hit costs 360 instructions, lru_cache's 920 (callgrind, bytes keys).
CACHED = 1024
TRAITS: dict[bytes, frozenset[str]] = {}
LANGUAGES: dict[bytes, frozenset[str]] = {}


def _remember(cache: dict[bytes, frozenset[str]], key: bytes, value: frozenset[str]) -> None:
    if len(cache) >= CACHED:
        del cache[next(iter(cache))]
    cache[key] = value


def traits_of(ua: bytes) -> frozenset[str]:
    """A user agent's device types and browser in one set (the two lists share no name). A
    device condition of ios holds for a user agent naming an iPhone, iPad or iPod even if it
    also names Android, which device_types reads first: as the redirect has always had it."""
    text = ua.decode("latin-1")
    found = set(device_types(text))
    if "iPhone" in text or "iPad" in text or "iPod" in text:
        found.add("ios")
    browser = browser_of(text)
    if browser is not None:
        found.add(browser)
    traits = frozenset(found)
    _remember(TRAITS, ua, traits)
    return traits


def languages_of(header: bytes) -> frozenset[str]:
    """An Accept-Language header's accepted tags and each one's primary language (de-AT gives
    de-at and de): a region condition asks for its exact tag, a language condition for its
    primary (the tag or any of its regions), and a primary has no `-`, so one set answers
    both."""
    tags = accepted_languages(header.decode("latin-1"))
    languages = frozenset([*tags, *(tag.partition("-")[0] for tag in tags)])
    _remember(LANGUAGES, header, languages)
    return languages


def parse_query(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)


def address_of(ip: str) -> tuple[int, int]:
    """(version, the address as a number), (0, 0) if it is none, by the C parser
    (ipaddress.ip_address costs ~10x). Only IPv6 text has a colon."""
    family, version = (socket.AF_INET6, 6) if ":" in ip else (socket.AF_INET, 4)
    try:
        return version, int.from_bytes(socket.inet_pton(family, ip))
    except OSError:
        return 0, 0


def spellings(code: str) -> frozenset[bytes]:
    """Every country header value whose Latin-1 text upper-cases to `code` (two ASCII letters):
    each letter in either case, and ß for SS (upper-casing ß gives SS; no other Latin-1
    character upper-cases to ASCII). The header is looked up in this set, never decoded."""
    first, second = code[0], code[1]
    found = {(a + b).encode() for a in (first, first.lower()) for b in (second, second.lower())}
    if code == "SS":
        found.add("ß".encode("latin-1"))
    return frozenset(found)


# The trusted headers' names of a request made up to ask where one would go (request_scope).
_ASKED = header_names(b"x-country", b"x-client-ip")


def request_scope(
    *, user_agent: str, language: str, country: str | None, query: str, ip: str
) -> tuple[Scope, HeaderNames]:
    """An ASGI scope of a request with these traits, and the header names it is read with: what
    a link's compiled rules take, for the dashboard's "test a request" (the same matching as
    the redirect's, on a request that was never made)."""
    headers = [(UA, user_agent.encode("latin-1", "replace"))]
    headers.append((ACCEPT_LANGUAGE, language.encode("latin-1", "replace")))
    if country:
        headers.append((b"x-country", country.encode("latin-1", "replace")))
    if ip:
        headers.append((b"x-client-ip", ip.encode("latin-1", "replace")))
    scope = {
        "type": "http",
        "headers": headers,
        "query_string": query.removeprefix("?").encode("latin-1", "replace"),
        "client": (ip or "192.0.2.1", 0),
    }
    return scope, _ASKED
