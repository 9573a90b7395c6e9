"""Domains' rules. The default domain is SURGE_PUBLIC_URL's host: it has no row, its links have
the domain key '' and its redirects are settings. Every other domain is added by an admin; a
link's domain key is its host. Each public method is one unit of work."""

from __future__ import annotations

from urllib.parse import urlsplit

from surge.data.contracts import DomainEntry
from surge.domains.hosts import default_entry, normalize_host
from surge.domains.repository import Domain, DomainRedirects, DomainRepository
from surge.links.analytics_client import LinkChangeNotifier
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.problems import (
    DEFAULT_DOMAIN,
    DOMAIN_IN_USE,
    DOMAIN_TAKEN,
    VALIDATION_ERROR,
    ProblemError,
    not_found,
)

DEFAULT_KEY = ""
DEFAULT_ALIAS = "default"  # what Shlink clients may call the default domain


def domain_problem(field: str, message: str) -> ProblemError:
    return VALIDATION_ERROR(f"{field}: {message}", errors=[{"loc": [field], "msg": message}])


class DomainService:
    def __init__(
        self, settings: Settings, sessions: SessionMaker, notifier: LinkChangeNotifier
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.notifier = notifier
        self.default_host = settings.public_host
        self._scheme = urlsplit(settings.public_url).scheme or "https"

    # --- keys and URLs (no I/O but for a named domain) ------------------------------------------

    def is_default(self, domain: str | None) -> bool:
        return not domain or domain.strip().lower() in (self.default_host, DEFAULT_ALIAS)

    async def key_of(self, domain: str | None, field: str = "domain") -> str:
        """The key of the domain a request names (None, '', "default" or the default host:
        the default domain); a 422 naming `field` when Surge does not serve it."""
        if self.is_default(domain):
            return DEFAULT_KEY
        assert domain is not None
        try:
            host = normalize_host(domain)
        except ValueError as exc:
            raise domain_problem(field, str(exc)) from None
        if host == self.default_host:
            return DEFAULT_KEY
        async with self.sessions() as session:
            if await DomainRepository(session).by_host(host) is None:
                raise domain_problem(field, f"no domain {host} here (see GET /api/v1/domains)")
        return host

    async def lookup_key(self, domain: str | None) -> str | None:
        """The key of the domain a request names, or None when Surge serves no such domain
        (where a link is looked for there: it is not found)."""
        try:
            return await self.key_of(domain)
        except ProblemError:
            return None

    def host_of(self, key: str) -> str:
        return key or self.default_host

    def short_url(self, key: str, slug: str) -> str:
        if not key:
            return f"{self.settings.public_url}/{slug}"
        return f"{self._scheme}://{key}/{slug}"

    # --- the domains ---------------------------------------------------------------------------

    def default(self) -> Domain:
        s = self.settings
        redirects = DomainRedirects(s.root_redirect, s.not_found_redirect, s.expired_redirect)
        return Domain(self.default_host, redirects, None)

    async def all(self) -> list[Domain]:
        """The default domain first, then the others by name."""
        async with self.sessions() as session:
            return [self.default(), *await DomainRepository(session).all()]

    async def get(self, host: str) -> Domain:
        if self.is_default(host):
            return self.default()
        async with self.sessions() as session:
            found = await DomainRepository(session).by_host(_existing_host(host))
        if found is None:
            raise not_found("domain")
        return found

    async def add(self, host: str, redirects: DomainRedirects) -> Domain:
        name = _host(host)
        if name == self.default_host:
            raise DOMAIN_TAKEN(f"{name} is the default domain (SURGE_PUBLIC_URL).")
        async with transaction(self.sessions) as session:
            repo = DomainRepository(session)
            if await repo.by_host(name) is not None:
                raise DOMAIN_TAKEN(f"There is already a domain {name}.")
            await repo.add(name, redirects, utc_now())
            made = await repo.by_host(name)
        assert made is not None
        await self.notifier.everything_changed()  # replicas cached this Host as unknown
        return made

    async def set_redirects(self, host: str, redirects: DomainRedirects) -> Domain:
        if self.is_default(host):
            raise DEFAULT_DOMAIN(
                "The default domain's redirects are settings: SURGE_ROOT_REDIRECT, "
                "SURGE_NOT_FOUND_REDIRECT, SURGE_EXPIRED_REDIRECT."
            )
        name = _existing_host(host)
        async with transaction(self.sessions) as session:
            repo = DomainRepository(session)
            if await repo.by_host(name) is None:
                raise not_found("domain")
            await repo.set_redirects(name, redirects)
            changed = await repo.by_host(name)
        assert changed is not None
        await self.notifier.everything_changed()
        return changed

    async def remove(self, host: str) -> None:
        if self.is_default(host):
            raise DEFAULT_DOMAIN("The default domain cannot be removed.")
        name = _existing_host(host)
        async with transaction(self.sessions) as session:
            repo = DomainRepository(session)
            if await repo.by_host(name) is None:
                raise not_found("domain")
            count = await repo.links_on(name)
            if count:
                raise DOMAIN_IN_USE(f"{name} still has {count} link(s): delete or move them first.")
            await repo.delete(name)
        await self.notifier.everything_changed()

    async def entry(self, host: str) -> DomainEntry | None:
        """For the redirect service: how it serves a request with this Host (None: it does
        not, and answers 404)."""
        try:
            name = normalize_host(host)
        except ValueError:
            name = None
        found = None
        if name is not None and name != self.default_host:
            async with self.sessions() as session:
                found = await DomainRepository(session).by_host(name)
        if found is not None:
            r = found.redirects
            return DomainEntry(
                key=found.host,
                root_url=r.root_url,
                not_found_url=r.not_found_url,
                expired_url=r.expired_url,
            )
        if name == self.default_host or self.settings.unknown_hosts == "default":
            return default_entry(self.settings)
        return None


def _existing_host(value: str) -> str:
    """The host a path names; what is no host name names no domain here (404)."""
    try:
        return normalize_host(value)
    except ValueError:
        raise not_found("domain") from None


def _host(value: str) -> str:
    try:
        return normalize_host(value)
    except ValueError as exc:
        raise domain_problem("host", str(exc)) from None
