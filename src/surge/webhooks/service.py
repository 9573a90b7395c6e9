"""Webhook endpoints' rules: who may register what, and see or change which. Users own their
endpoints; an admin sees and manages everyone's, and an admin's endpoint gets every link's
events (a user's: only their own links'). Each public method is one unit of work."""

from __future__ import annotations

from surge.links.service import LinkService
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.problems import WEBHOOK_LIMIT, ProblemError, field_problem, not_found
from surge.webhooks.addresses import Refused, Resolver, Unresolved, policy_from, system_resolver
from surge.webhooks.event_repository import insert_outbox_rows
from surge.webhooks.events import new_secret
from surge.webhooks.repository import Delivery, Endpoint, EndpointRepository, NewEndpoint
from surge.webhooks.schemas import WebhookCreate

MAX_DELIVERIES_SHOWN = 100


class WebhookService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionMaker,
        links: LinkService,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.links = links
        self.policy = policy_from(settings, resolver)

    async def create(self, owner_id: int, owner_scope: int | None, body: WebhookCreate) -> Endpoint:
        """A new endpoint of `owner_id`, its secret in the answer (the only time it is shown).
        `owner_scope`: whose links its filter may name (None: anyone's, for an admin)."""
        try:
            await self.policy.destination(body.url)
        except Unresolved:
            pass  # it may resolve later; each delivery checks it again
        except Refused as exc:
            raise field_problem("url", str(exc)) from None
        link_id = None
        if body.link is not None:
            domain, _, slug = body.link.rpartition("/")
            try:
                link = await self.links.get(owner_scope, slug, domain or None)
            except ProblemError:
                raise field_problem("link", "no such link of yours") from None
            link_id = link.id
        new = NewEndpoint(
            owner_id=owner_id,
            url=body.url,
            events=tuple(body.events),
            link_id=link_id,
            tag=body.tag,
            secret=new_secret(),
        )
        async with transaction(self.sessions) as session:
            repo = EndpointRepository(session)
            most = self.settings.webhook_max_per_user
            if await repo.count(owner_id) >= most:
                raise WEBHOOK_LIMIT(f"At most {most} webhook endpoints per user: delete one.")
            endpoint_id = await repo.add(new, utc_now())
            made = await repo.listed(None, endpoint_id)
        return made[0]

    async def all(self, owner_scope: int | None) -> list[Endpoint]:
        async with self.sessions() as session:
            return await EndpointRepository(session).listed(owner_scope)

    async def get(self, owner_scope: int | None, endpoint_id: int) -> Endpoint:
        async with self.sessions() as session:
            found = await EndpointRepository(session).listed(owner_scope, endpoint_id)
        if not found:
            raise not_found("webhook")
        return found[0]

    async def delete(self, owner_scope: int | None, endpoint_id: int) -> None:
        """Gone with every event it had not been sent yet."""
        async with transaction(self.sessions) as session:
            repo = EndpointRepository(session)
            if not await repo.listed(owner_scope, endpoint_id):
                raise not_found("webhook")
            await repo.delete(endpoint_id)

    async def enable(self, owner_scope: int | None, endpoint_id: int) -> Endpoint:
        """Deliveries resume from the first event not delivered, now."""
        async with transaction(self.sessions) as session:
            repo = EndpointRepository(session)
            if not await repo.listed(owner_scope, endpoint_id):
                raise not_found("webhook")
            await repo.enable(endpoint_id, utc_now())
            return (await repo.listed(None, endpoint_id))[0]

    async def deliveries(
        self, owner_scope: int | None, endpoint_id: int, limit: int = 20
    ) -> list[Delivery]:
        """The last `limit` delivery attempts, newest first."""
        async with self.sessions() as session:
            repo = EndpointRepository(session)
            if not await repo.listed(owner_scope, endpoint_id):
                raise not_found("webhook")
            return await repo.deliveries(endpoint_id, min(limit, MAX_DELIVERIES_SHOWN))

    async def resend(self, owner_scope: int | None, endpoint_id: int, event_id: str) -> None:
        """Queue the event again, the same id and body, after the endpoint's pending ones."""
        async with transaction(self.sessions) as session:
            repo = EndpointRepository(session)
            if not await repo.listed(owner_scope, endpoint_id):
                raise not_found("webhook")
            found = await repo.event(endpoint_id, event_id)
            if found is None:
                raise not_found("event")
            event_type, body = found
            await insert_outbox_rows(
                session, [(endpoint_id, event_id, event_type, body)], utc_now()
            )
