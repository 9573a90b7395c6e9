"""Many links at once: an owner's overview over a range, and the links list's clicks (a page by
clicks, the page's counts and sparklines). Each public method is one unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from surge.data.contracts import TOP, Interval, VisitCounts
from surge.data.overview import LinkClicks, OverviewQuery, OverviewStats
from surge.links.overview_client import OverviewClient
from surge.links.overview_repository import OwnedLinkQueries
from surge.links.repository import Link, LinkQueries
from surge.links.service import LinkService, lifetime_range
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker

# How deep the links list goes by clicks: a page past it would rank more links than a request
# reads (40 pages of 25).
MAX_RANKED = 1000
SPARKLINE_DAYS = 14


@dataclass(slots=True, frozen=True)
class Overview:
    stats: OverviewStats
    links: int  # the owner's links (everyone's: every link)
    top_links: list[tuple[Link, int]]  # (link, human clicks in the range), most first


@dataclass(slots=True, frozen=True)
class ClicksPage:
    items: list[Link]
    more: bool  # a next page exists


@dataclass(slots=True, frozen=True)
class ListedClicks:
    """What the links list shows of a page's links: all-time clicks (imported ones included,
    as their stats count them) and human clicks per UTC day of the last SPARKLINE_DAYS."""

    counts: dict[int, VisitCounts]
    first_day: date
    daily: dict[int, list[int]]


def ranked(
    page: list[LinkClicks], imported: dict[int, int], analytics_only: dict[int, int]
) -> list[tuple[int, int]]:
    """(link id, clicks) most first, ties highest id first: analytics' ranking of the links
    without imported clicks merged with those that have some (their analytics clicks plus
    what they brought)."""
    both = [(c.link_id, c.clicks) for c in page] + [
        (i, n + analytics_only.get(i, 0)) for i, n in imported.items()
    ]
    return sorted(both, key=lambda pair: (-pair[1], -pair[0]))


class OverviewService:
    def __init__(self, sessions: SessionMaker, analytics: OverviewClient, links: LinkService):
        self.sessions = sessions
        self.analytics = analytics
        self.links = links

    async def overview(
        self,
        owner_id: int | None,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        top: int = TOP,
    ) -> Overview:
        """The clicks of the owner's links (None: of every link ever made, those deleted since
        included) over [start, end), the range clamped to the time the links have existed as a
        link's stats are. Clicks brought by `surge import` have no date: not counted here."""
        async with self.sessions() as session:
            queries = OwnedLinkQueries(session)
            count, first = await queries.count_and_first(owner_id)
            ids = None if owner_id is None else await queries.ids(owner_id)
        now = utc_now()
        start, end = lifetime_range(start, end, first or now, now)
        stats = await self.analytics.overview(
            OverviewQuery(link_ids=ids, start=start, end=end, interval=interval, top=top)
        )
        clicks = {t.link_id: t.clicks for t in stats.top_links}
        async with self.sessions() as session:
            found = await LinkQueries(session).by_ids(list(clicks))
        return Overview(stats, count, [(link, clicks[link.id]) for link in found])

    async def by_clicks(
        self, owner_id: int | None, *, tag: str | None, q: str | None, page: int, per_page: int
    ) -> ClicksPage:
        """Page `page` (from 1) of the matching links by all-time human clicks, most first."""
        offset = (page - 1) * per_page
        if offset + per_page > MAX_RANKED:
            return ClicksPage(items=[], more=False)
        async with self.sessions() as session:
            queries = OwnedLinkQueries(session)
            ids = await queries.ids(owner_id, tag=tag, q=q)
            imported = await queries.imported(owner_id, tag=tag, q=q)
        if not imported:
            found = (await self.analytics.ranking(ids, offset, per_page)).items
            order = [c.link_id for c in found]
        else:
            # Analytics ranks what it counted; a link that brought clicks from another
            # shortener ranks by both. The top `offset + per_page` of all is among the top
            # as many of the others and every imported one.
            others = [i for i in ids if i not in imported]
            window = (await self.analytics.ranking(others, 0, offset + per_page)).items
            counted = await self.analytics.visit_counts(list(imported))
            merged = ranked(window, imported, {i: c.humans for i, c in counted.items()})
            order = [i for i, _ in merged[offset : offset + per_page]]
        async with self.sessions() as session:
            items = await LinkQueries(session).by_ids(order)
        more = offset + per_page < min(len(ids), MAX_RANKED)
        return ClicksPage(items=items, more=more)

    async def listed_clicks(self, link_ids: list[int]) -> ListedClicks:
        """A page's all-time counts (one request) and sparklines (one request)."""
        counts = await self.links.visit_counts(link_ids)
        first = utc_now().date() - timedelta(days=SPARKLINE_DAYS - 1)
        series = await self.analytics.daily_series(link_ids, first, SPARKLINE_DAYS)
        return ListedClicks(counts, first, {s.link_id: s.clicks for s in series.items})
