"""The links list's clicks: each listed link's all-time clicks and its sparkline, for a page
of links in two requests to analytics, whatever the page's size."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from surge.dashboard.sparklines import sparkline
from surge.links.overview import OverviewService
from surge.links.repository import Link
from surge.platform.problems import ProblemError


@dataclass(slots=True, frozen=True)
class ClicksColumn:
    """Per listed link, in the list's order: clicks (None: analytics did not answer) and
    sparkline."""

    clicks: list[int | None]
    sparklines: list[Markup | None]


async def clicks_column(overviews: OverviewService, links: list[Link]) -> ClicksColumn:
    ids = [link.id for link in links]
    try:
        listed = await overviews.listed_clicks(ids)
    except ProblemError as exc:
        if exc.status < 500:
            raise
        # Stats away for now: the list (what people come to it for) is still shown.
        return ClicksColumn([None] * len(ids), [None] * len(ids))
    counts = [listed.counts[i].humans if i in listed.counts else 0 for i in ids]
    lines = [sparkline(listed.daily.get(i, []), listed.first_day) for i in ids]
    return ClicksColumn(list(counts), list(lines))
