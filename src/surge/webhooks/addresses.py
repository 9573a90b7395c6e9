"""Where a webhook may be delivered: never inside the operator's network (SSRF).

A URL is checked when it is registered and again at each delivery, against the addresses its
host resolves to then: if any of them is loopback, private, link-local or otherwise not a
public address, it is refused. The delivery then connects to the address that was checked (the
Host header and TLS's server name carry the name), so a DNS answer that changes between the
check and the connection (rebinding) cannot point it inside. An operator may allow named
internal hosts or addresses (SURGE_WEBHOOK_ALLOWED_HOSTS).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from surge.links.targets import LOCAL_SUFFIXES, host_key, target_problem
from surge.platform.config import Settings

# (host, port) -> the addresses it resolves to; tests inject a stub.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 5.0


class Refused(Exception):
    """The URL, or what its host resolves to now, may not be delivered to."""


class Unresolved(Refused):
    """The host does not resolve now: nothing to deliver to, and nothing known to refuse."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _address(text: str) -> IPAddress | None:
    try:
        found = ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return found


def internal(address: IPAddress) -> bool:
    """Not an address of the public internet: loopback, private, link-local (cloud metadata at
    169.254.169.254), shared, reserved, unspecified or multicast."""
    return not address.is_global or address.is_multicast


@dataclass(slots=True, frozen=True)
class Destination:
    """Where one delivery connects: `url` names the checked address; `host` goes in the Host
    header and, for https, is the TLS server name (SNI and the certificate's check)."""

    url: str
    host: str
    address: str
    tls_name: str | None


class AddressPolicy:
    def __init__(
        self,
        *,
        allowed: Iterable[str] = (),
        public_host: str = "",
        blocked: Iterable[str] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allowed_hosts: set[str] = set()
        self.allowed_addresses: set[IPAddress] = set()
        for entry in allowed:
            address = _address(entry)
            if address is not None:
                self.allowed_addresses.add(address)
            else:
                self.allowed_hosts.add(host_key(entry))
        self.public_host = public_host
        self.blocked = list(blocked)
        self.resolver = resolver

    def url_problem(self, url: str) -> str | None:
        """Why `url` can never be a webhook's, without resolving it (None: it may be)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return "is not a URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "must be an http(s) URL with a host"
        if parts.username is not None or parts.password is not None:
            return "may not carry a user name or password"
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            return "has a port that is not one"
        host = host_key(parts.hostname)
        if not host.isascii():
            return "has a host that is not a host name"
        if host in self.allowed_hosts:
            return None
        address = _address(host)
        if address is not None:
            if internal(address) and address not in self.allowed_addresses:
                return f"may not point at an internal address ({address})"
            return None
        if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host:
            return "may not point at a local host name"
        return target_problem(url, public_host=self.public_host, blocked=self.blocked)

    async def destination(self, url: str) -> Destination:
        """Where to connect for `url` now: its host resolved and every address checked.
        Refused when the URL or an address is not allowed, or the name does not resolve."""
        problem = self.url_problem(url)
        if problem:
            raise Refused(problem)
        parts = urlsplit(url)
        host = host_key(parts.hostname)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = _address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                    found = await self.resolver(host, port)
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise Unresolved(f"{host} does not resolve ({exc})") from None
            addresses = [a for a in (_address(text) for text in found) if a is not None]
            if not addresses:
                raise Unresolved(f"{host} does not resolve")
        if host not in self.allowed_hosts:
            for address in addresses:
                if internal(address) and address not in self.allowed_addresses:
                    raise Refused(f"{host} resolves to an internal address ({address})")
        chosen = addresses[0]
        shown = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        default_port = parts.port is None
        netloc = shown if default_port else f"{shown}:{port}"
        host_header = parts.hostname or host
        if ":" in host_header:
            host_header = f"[{host_header}]"
        if not default_port:
            host_header = f"{host_header}:{port}"
        return Destination(
            url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
            host=host_header,
            address=str(chosen),
            tls_name=host if parts.scheme == "https" and literal is None else None,
        )


def policy_from(settings: Settings, resolver: Resolver = system_resolver) -> AddressPolicy:
    return AddressPolicy(
        allowed=settings.webhook_allowed_hosts,
        public_host=settings.public_host,
        blocked=settings.blocked_hosts,
        resolver=resolver,
    )
