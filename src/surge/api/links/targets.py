"""Where a link may point: not back at this Surge, not at a host on the operator's blocklist,
and not at loopback, private, link-local or otherwise non-public addresses — a short link to
`http://169.254.169.254/` or `http://10.0.0.5/admin` is a way to make people's browsers (or a
link unfurler on the operator's network) reach places the public should not.

Nothing is resolved at request time (DNS can say anything later, and a lookup per create is a
way to make Surge wait): only literal addresses are judged, parsed as a browser parses them —
`http://2130706433/`, `http://0x7f.1/` and `http://127.1/` all are 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote, urlsplit

LOCAL_NAMES = ("localhost", "localhost.localdomain")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def host_key(host: str | None) -> str:
    """A host as a browser resolves it: percent-decoded, IDNA-mapped, lower case, no final dot."""
    host = unquote(host or "")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.lower().rstrip(".")


def _ipv4_number(part: str) -> int | None:
    """One dotted part as the WHATWG URL parser reads it: 0x hex, leading-0 octal, decimal."""
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        part, base = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, base)
    except ValueError:
        return None


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, as a browser parses it; None for a domain name."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not parts or len(parts) > 4 or _ipv4_number(parts[-1]) is None:
        return None  # a browser takes it for a domain name
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None  # a browser refuses such a URL; nothing to judge
    address = values[-1]
    for i, n in enumerate(values[:-1]):
        address += n << (8 * (3 - i))
    return ipaddress.IPv4Address(address)


def _non_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def target_problem(url: str, *, public_host: str, blocked: list[str]) -> str | None:
    """Why a link may not point at `url`, or None when it may."""
    host = host_key(urlsplit(url).hostname)
    if host == host_key(public_host):
        return "a link may not point back at this Surge's short domain"
    address = literal_address(host)
    if address is not None:
        if _non_public(address):
            return "a link may not point at a loopback, private or link-local address"
        return None
    if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES):
        return "a link may not point at a local host name"
    for entry in blocked:
        if host == entry or host.endswith("." + entry):
            return f"links to {entry} are not allowed here"
    return None
