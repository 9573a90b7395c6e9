"""What the Shlink API does that Surge's own API does not, over `LinkService` (which owns every
rule of links): Shlink's domain, its listing (ordered and filtered by visits), its tag totals and
its short URL shape. Its routes only read the request and call this."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends
from pydantic import ValidationError

from surge.accounts.key_repository import ApiKey
from surge.data.contracts import VisitCounts
from surge.links.deps import LinkServiceDep
from surge.links.repository import Link, LinkFilter
from surge.links.schemas import LinkCreate, LinkUpdate
from surge.links.service import LinkService
from surge.platform.config import Settings
from surge.platform.deps import SettingsDep
from surge.platform.problems import ProblemError
from surge.shlink.adapter import (
    Page,
    redirect_rules,
    short_url,
    tag_rename,
    with_device_long_urls,
)
from surge.shlink.errors import DOMAIN_NOT_FOUND, SHORT_URL_NOT_FOUND, in_shlink_terms, invalid_data
from surge.shlink.schemas import (
    DeviceLongUrls,
    Pagination,
    RedirectRules,
    ShortUrl,
    ShortUrlsList,
    ShortUrlsPage,
    TagInfo,
    TagRenaming,
    VisitsSummary,
)

TagsOrder = Literal[
    "tag-ASC",
    "tag-DESC",
    "shortUrlsCount-ASC",
    "shortUrlsCount-DESC",
    "visits-ASC",
    "visits-DESC",
    "nonBotVisits-ASC",
    "nonBotVisits-DESC",
]
_TAG_SORT_KEYS: dict[str, Callable[[TagInfo], str | int]] = {
    "tag": lambda i: i.tag,
    "shortUrlsCount": lambda i: i.shortUrlsCount,
    "visits": lambda i: i.visitsSummary.total,
    "nonBotVisits": lambda i: i.visitsSummary.nonBots,
}


@dataclass(slots=True, frozen=True)
class ShortUrlsQuery:
    """What a short URL listing asks for: which links, in which order, which page."""

    match: LinkFilter
    order_by: str  # Shlink's `orderBy`: a field, "-", ASC or DESC
    exclude_max_visits_reached: bool
    paging: Page


def visits_total(counts: Iterable[VisitCounts]) -> VisitsSummary:
    """The visits of several links as one summary (a tag's, the overview's)."""
    humans = bots = 0
    for c in counts:
        humans += c.humans
        bots += c.bots
    return VisitsSummary(total=humans + bots, nonBots=humans, bots=bots)


class ShlinkService:
    def __init__(self, links: LinkService, settings: Settings) -> None:
        self.links = links
        self.settings = settings

    async def domain_key(self, domain: str | None, short_code: str = "") -> str:
        """The key of a domain Surge serves; for any other, Shlink's not-found of the short
        code on it."""
        try:
            return await self.links.domains.key_of(domain)
        except ProblemError:
            raise SHORT_URL_NOT_FOUND(
                f'No URL found with short code "{short_code}" for domain "{domain}"',
                shortCode=short_code,
                domain=domain,
            ) from None

    async def owned(self, key: ApiKey, short_code: str, domain: str | None) -> Link:
        """The key's link `short_code` on `domain`, or Shlink's not-found."""
        host = await self.domain_key(domain, short_code)
        with in_shlink_terms(short_code=short_code):
            return await self.links.get(key.owner_scope, short_code, host or None)

    async def counted(self, link: Link) -> ShortUrl:
        """A short URL as Shlink shows it, with its visits."""
        counts = await self.links.visit_counts([link.id])
        return short_url(link, self.settings.public_url, counts.get(link.id))

    async def check_creation_domain(self, domain: str | None) -> None:
        """A short URL may be made on a domain Surge serves only."""
        try:
            await self.links.domains.key_of(domain)
        except ProblemError:
            raise invalid_data(
                ["domain"], f"domain: {domain} is not a domain of this server"
            ) from None

    async def existing(self, key: ApiKey, wanted: LinkCreate) -> ShortUrl | None:
        """`findIfExists`: the key's user's link that is already what `wanted` asks for."""
        found = await self.links.find_same(key.user_id, wanted)
        return None if found is None else await self.counted(found)

    async def create(
        self, key: ApiKey, wanted: LinkCreate, short_code_length: int | None = None
    ) -> ShortUrl:
        """`short_code_length`: of the generated short code (Surge's default length if None)."""
        with in_shlink_terms(custom_slug=wanted.slug):
            link = await self.links.create(key.user_id, wanted, slug_length=short_code_length)
        return short_url(link, self.settings.public_url, None)

    async def edit(
        self,
        key: ApiKey,
        short_code: str,
        domain: str | None,
        changes: LinkUpdate,
        device_urls: DeviceLongUrls | None = None,
    ) -> ShortUrl:
        """`device_urls` (Shlink's deviceLongUrls) replace the link's one-condition device
        rules of the devices it names."""
        link = await self.owned(key, short_code, domain)  # not-found before the checks
        if device_urls is not None:
            current = [rule.model_dump() for rule in link.values.rules]
            changes = with_rules(changes, with_device_long_urls(current, device_urls))
        link = await self.links.update(key.owner_scope, short_code, changes, link.domain or None)
        return await self.counted(link)

    async def set_rules(
        self, key: ApiKey, short_code: str, domain: str | None, changes: LinkUpdate
    ) -> RedirectRules:
        link = await self.owned(key, short_code, domain)
        link = await self.links.update(key.owner_scope, short_code, changes, link.domain or None)
        return redirect_rules(link)

    async def delete(self, key: ApiKey, short_code: str, domain: str | None) -> None:
        host = await self.domain_key(domain, short_code)
        with in_shlink_terms(short_code=short_code):
            await self.links.delete(key.owner_scope, short_code, host or None)

    async def delete_visits(self, key: ApiKey, short_code: str, domain: str | None) -> int:
        host = await self.domain_key(domain, short_code)
        with in_shlink_terms(short_code=short_code):
            return await self.links.delete_visits(key.owner_scope, short_code, host or None)

    async def short_urls(self, key: ApiKey, query: ShortUrlsQuery) -> ShortUrlsList:
        """One page of the key's short URLs, ordered and filtered as Shlink does."""
        field, _, direction = query.order_by.partition("-")
        descending, paging = direction == "DESC", query.paging
        by_visits = field in ("visits", "nonBotVisits")
        heads = await self.links.heads(
            key.owner_scope,
            query.match,
            order=field if field in ("longUrl", "shortCode", "title") else "dateCreated",
            descending=descending,
        )
        # Visits live in analytics: ordering or filtering by them needs every candidate's counts.
        counted = by_visits or query.exclude_max_visits_reached
        counts = await self.links.visit_counts([h.id for h in heads]) if counted else {}
        if query.exclude_max_visits_reached:
            heads = [
                h
                for h in heads
                if h.max_clicks is None
                or (c := counts.get(h.id)) is None
                or c.humans + c.bots < h.max_clicks
            ]
        if by_visits:

            def visits_of(link_id: int) -> int:
                c = counts.get(link_id)
                return 0 if c is None else c.humans + (0 if field == "nonBotVisits" else c.bots)

            heads.sort(key=lambda h: visits_of(h.id), reverse=descending)
        chosen = [h.id for h in heads[paging.offset : paging.offset + paging.size]]
        found = await self.links.by_ids(chosen)
        if not counted:
            counts = await self.links.visit_counts(chosen)
        data = [short_url(link, self.settings.public_url, counts.get(link.id)) for link in found]
        return ShortUrlsList(
            shortUrls=ShortUrlsPage(data=data, pagination=paging.pagination(len(heads), len(data)))
        )

    async def tag_infos(self, key: ApiKey) -> list[TagInfo]:
        """Each of the key's tags with how many short URLs carry it and their visits."""
        by_tag: dict[str, list[int]] = defaultdict(list)
        for tag, link_id in await self.links.tagged(key.owner_scope):
            by_tag[tag].append(link_id)
        counts = await self.links.visit_counts(sorted({i for ids in by_tag.values() for i in ids}))
        infos = []
        for tag, ids in by_tag.items():
            visits = visits_total(counts[i] for i in ids if i in counts)
            infos.append(
                TagInfo(
                    tag=tag,
                    shortUrlsCount=len(ids),
                    visitsSummary=visits,
                    visitsCount=visits.total,
                )
            )
        return infos

    async def tags(
        self,
        key: ApiKey,
        search: str | None,
        order_by: TagsOrder | None,
        page: int | None,
        items_per_page: int | None,
    ) -> tuple[list[TagInfo], Pagination]:
        """One page of the key's tags (all of them unless `items_per_page` says otherwise)."""
        infos = await self.tag_infos(key)
        if search:
            infos = [i for i in infos if search.lower() in i.tag.lower()]
        field, _, direction = (order_by or "tag-ASC").partition("-")
        infos.sort(key=_TAG_SORT_KEYS[field], reverse=direction == "DESC")
        paging = Page.of(page, items_per_page if items_per_page is not None else -1)
        chosen = infos[paging.offset : paging.offset + paging.size]
        return chosen, paging.pagination(len(infos), len(chosen))

    async def rename_tag(self, key: ApiKey, renaming: TagRenaming) -> None:
        """The key's user's tag renamed on all their links (an admin key's: on everyone's)."""
        new = tag_rename(renaming)
        with in_shlink_terms(renaming=(renaming.oldName, renaming.newName)):
            await self.links.rename_tag(key.owner_scope, renaming.oldName, new)

    async def delete_tags(self, key: ApiKey, tags: list[str]) -> None:
        """`tags` taken off all the key's user's links (an admin key's: everyone's); a tag none
        of them has is no error, as in Shlink."""
        await self.links.delete_tags(key.owner_scope, tags)

    async def all_links(self, key: ApiKey, match: LinkFilter) -> dict[int, str]:
        """Every link of the key's that `match` finds, id → slug, newest first."""
        heads = await self.links.heads(key.owner_scope, match, order="dateCreated", descending=True)
        return {h.id: h.slug for h in heads}

    async def links_on_domain(self, key: ApiKey, domain: str) -> dict[int, str]:
        """Every link of the key's on `domain`, id → slug; Shlink's not-found for a domain that
        is not Surge's."""
        try:
            host = await self.links.domains.key_of(domain)
        except ProblemError:
            raise DOMAIN_NOT_FOUND(
                f'Domain with authority "{domain}" could not be found', authority=domain
            ) from None
        return await self.all_links(key, LinkFilter(domain=host))

    async def overview(self, key: ApiKey) -> VisitsSummary:
        """The visits of all the key's links."""
        counts = await self.links.visit_counts(list(await self.all_links(key, LinkFilter())))
        return visits_total(counts.values())


def with_rules(changes: LinkUpdate, rules: list[dict[str, Any]]) -> LinkUpdate:
    """`changes` that also set the link's rules to `rules`, checked as Surge checks rules."""
    sent = changes.model_dump(include=changes.model_fields_set, mode="json")
    try:
        return LinkUpdate.model_validate({**sent, "rules": rules})
    except ValidationError as exc:
        raise invalid_data(["deviceLongUrls"], f"deviceLongUrls: {exc.errors()[0]['msg']}") from exc


async def shlink_service(links: LinkServiceDep, settings: SettingsDep) -> ShlinkService:
    return ShlinkService(links, settings)


ShlinkServiceDep = Annotated[ShlinkService, Depends(shlink_service)]
