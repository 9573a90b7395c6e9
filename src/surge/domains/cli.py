"""What `surge domains` runs: DomainService with a notifier of its own, so that redirect
replicas forget what they cached of domains (Redis pub/sub, else SURGE_REDIRECT_URLS)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from pydantic import ValidationError

from surge.cli_support import CliError, current_sessions
from surge.data.link_tier import SharedLinkTier
from surge.domains.repository import Domain
from surge.domains.schemas import DomainRedirectsIn
from surge.domains.service import DomainService
from surge.links.analytics_client import LinkChangeNotifier
from surge.platform.config import Settings
from surge.platform.http import internal_client
from surge.platform.problems import ProblemError
from surge.platform.redis import RedisNames, redis_from_settings
from surge.platform.validation import error_message


@asynccontextmanager
async def replicas_notifier(settings: Settings) -> AsyncIterator[LinkChangeNotifier]:
    async with AsyncExitStack() as stack:
        clients = [
            internal_client(url, settings.internal_token, timeout_s=settings.internal_timeout_s)
            for url in settings.redirect_urls
        ]
        for client in clients:
            stack.push_async_callback(client.aclose)
        shared = None
        redis = redis_from_settings(settings)
        if redis is not None:
            stack.push_async_callback(redis.aclose)
            shared = SharedLinkTier(
                redis,
                RedisNames(settings.redis_prefix),
                ttl_s=settings.cache_ttl_s,
                negative_ttl_s=settings.negative_cache_ttl_s,
            )
        yield LinkChangeNotifier(clients, shared)


def _line(domain: Domain) -> str:
    r = domain.redirects
    name = domain.host + (" (default)" if domain.created_at is None else "")
    return (
        f"{name:<32}  {r.root_url or '-':<28}  {r.not_found_url or '-':<28}  {r.expired_url or '-'}"
    )


async def run_domains(settings: Settings, args: argparse.Namespace) -> str:
    try:
        async with current_sessions(settings) as sessions, replicas_notifier(settings) as tell:
            domains = DomainService(settings, sessions, tell)
            command = args.domains_command
            if command == "list":
                header = f"{'domain':<32}  {'/ goes to':<28}  {'unknown slugs go to':<28}  expired"
                return "\n".join([header, *(_line(d) for d in await domains.all())])
            if command == "remove":
                await domains.remove(args.host)
                return f"removed {args.host}"
            try:
                redirects = DomainRedirectsIn(
                    root_url=args.root_url,
                    not_found_url=args.not_found_url,
                    expired_url=args.expired_url,
                ).redirects()
            except ValidationError as exc:
                error = exc.errors()[0]
                flag = "--" + str(error["loc"][0]).replace("_", "-")
                raise CliError(f"{flag}: {error_message(error)}") from None
            if command == "add":
                return _line(await domains.add(args.host, redirects))
            return _line(await domains.set_redirects(args.host, redirects))
    except ProblemError as exc:
        raise CliError(exc.detail or exc.problem.title) from None
