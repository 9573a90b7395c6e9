"""The overview as the public API answers it (`GET /api/v1/overview`) and the dashboard shows
it: a link's stats' figures summed over the owner's links, their top links, how many links."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from surge.data.contracts import Breakdown, CountPoint, Interval
from surge.links.overview import Overview
from surge.links.schemas import LinkOut


class TopLink(BaseModel):
    slug: str
    domain: str
    short_url: str
    url: str
    clicks: int = Field(description="Human clicks in the range.")


class OverviewOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from", description="The range counted, clamped as asked.")
    to: datetime
    interval: Interval
    links: int = Field(description="The links counted: the key's user's (everyone's: all).")
    total: int = Field(description="Human clicks of those links in the range.")
    unique_visitors: int = Field(
        description="Each link's unique visitors per UTC day, summed over the links and days "
        "(as each link's stats count them): a visitor of two links counts twice."
    )
    bot_clicks: int
    timeseries: list[CountPoint]
    top_links: list[TopLink] = Field(description="Most human clicks in the range first.")
    referrers: list[Breakdown]
    countries: list[Breakdown]
    regions: list[Breakdown]
    cities: list[Breakdown]
    devices: list[Breakdown]
    browsers: list[Breakdown]
    oses: list[Breakdown]

    @classmethod
    def of(cls, overview: Overview, public_url: str) -> OverviewOut:
        stats = overview.stats
        top = []
        for link, clicks in overview.top_links:
            shown = LinkOut.of(link, public_url)
            top.append(
                TopLink(
                    slug=shown.slug,
                    domain=shown.domain,
                    short_url=shown.short_url,
                    url=shown.url,
                    clicks=clicks,
                )
            )
        return cls(
            **stats.model_dump(exclude={"top_links"}),
            links=overview.links,
            top_links=top,
        )
