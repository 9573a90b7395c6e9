"""Host names as Surge keys them: lower case, no port, no trailing dot, IDNs as punycode.

No SQLAlchemy: the redirect imports this for its Host lookups.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from surge.data.contracts import DomainEntry

if TYPE_CHECKING:
    from surge.platform.config import Settings

MAX_HOST_LENGTH = 253
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_PATTERN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# What the API takes as a domain's name (JSON Schema `pattern`): ASCII labels (an IDN in its
# punycode form), at least two, any case, an optional port and trailing dot (both dropped).
_API_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_JSON_PATTERN = rf"^(?:{_API_LABEL}\.)+{_API_LABEL}\.?(?::[0-9]{{1,5}})?$"
HOST_JSON_MAX_LENGTH = MAX_HOST_LENGTH + 7


def host_of(header: str) -> str:
    """A request's Host header as a host name: the port, a trailing dot and case dropped
    (IPv6 literals keep their brackets off: `[::1]:8000` → `::1`)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.partition(":")[0].rstrip(".")


def normalize_host(value: str) -> str:
    """The host an admin means by `value` (a name, with or without a port, in any case, an IDN
    in Unicode or punycode); ValueError for what cannot be a short domain's name."""
    host = host_of(value)
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a host name") from None
    if len(host) > MAX_HOST_LENGTH or not HOST_PATTERN.fullmatch(host) or "." not in host:
        raise ValueError(
            f"{value!r} is not a domain name (like s.example.com: letters, digits and "
            "hyphens in dot-separated labels)"
        )
    return host


def default_entry(settings: Settings) -> DomainEntry:
    """How the default domain (SURGE_PUBLIC_URL's host) is served: its links' key is '', its
    redirects are settings (`/` for browsers only: API clients get the JSON 404)."""
    return DomainEntry(
        key="",
        root_url=settings.root_redirect,
        not_found_url=settings.not_found_redirect,
        expired_url=settings.expired_redirect,
    )
