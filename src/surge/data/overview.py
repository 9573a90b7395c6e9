"""REST contracts of analytics' answers about many links at once, for the dashboard: an overview
of some links over a range, the order of links by clicks, and their daily series (sparklines).

Each reads only the rollups (`hourly_clicks`, `daily_breakdowns`), one query per answer however
many links are asked about (analytics/overview_repository.py)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from surge.data.contracts import TOP, Breakdown, CountPoint, Interval

# Ids one request may name: an owner's every link goes in one body (~8 bytes an id in JSON).
MAX_LINK_IDS = 1_000_000
MAX_SERIES_LINKS = 200  # a page of the links list is 25
MAX_SERIES_DAYS = 93


class OverviewQuery(BaseModel):
    """The clicks of these links (None: of every link, an admin's "everyone") in [start, end)."""

    link_ids: list[int] | None = Field(default=None, max_length=MAX_LINK_IDS)
    start: datetime | None = None
    end: datetime | None = None
    interval: Interval = "day"
    top: int = Field(default=TOP, ge=1, le=100)


class LinkClicks(BaseModel):
    link_id: int
    clicks: int  # human clicks


class OverviewStats(BaseModel):
    """What `LinkStats` says of one link, summed over many, and their top links. The sum of
    the links' own stats over the same range, number for number (unique visitors too: a
    visitor is counted once per link and day, as each link's stats count them)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from")
    to: datetime
    interval: Interval
    total: int
    unique_visitors: int
    bot_clicks: int
    timeseries: list[CountPoint]
    top_links: list[LinkClicks]  # most human clicks in the range first (ties: newest link)
    referrers: list[Breakdown]
    countries: list[Breakdown]
    regions: list[Breakdown]
    cities: list[Breakdown]
    devices: list[Breakdown]
    browsers: list[Breakdown]
    oses: list[Breakdown]


class RankingQuery(BaseModel):
    """A page of these links ordered by all-time human clicks, most first (ties: highest id
    first, the newest link); links without clicks rank too, with 0."""

    link_ids: list[int] = Field(max_length=MAX_LINK_IDS)
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=25, ge=1, le=1000)


class Ranking(BaseModel):
    items: list[LinkClicks]


class DailySeriesQuery(BaseModel):
    """Human clicks per UTC day of each link, `days` days from `first`."""

    link_ids: list[int] = Field(max_length=MAX_SERIES_LINKS)
    first: date
    days: int = Field(ge=1, le=MAX_SERIES_DAYS)


class LinkSeries(BaseModel):
    link_id: int
    clicks: list[int]  # one per day from `first`, zero-filled


class DailySeries(BaseModel):
    first: date
    items: list[LinkSeries]  # every link asked about, in the order asked
