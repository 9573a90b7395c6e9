"""Analytics' side of the live feed: after a batch is committed, a summary per link goes to the
dashboards that watch (data/live.py). In-process (`LocalLiveFeed`) when the api runs in the same
process without Redis; else one entry of a capped Redis stream (`RedisLiveFeed`) that every api
process reads, whichever analytics process ingested the batch.

The feed is best effort: clicks are counted whether or not it is told, and telling it never
fails an ingest (the stream entry would then come back and be ingested again for nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from surge.analytics.enrich import Click
from surge.data.live import FIELD, RECENT, LiveClick, LiveHub, LiveSummary, pack
from surge.platform.logging import get_logger
from surge.platform.metrics import LIVE_PUBLISH_ERRORS
from surge.platform.redis import RedisClient

log = get_logger(__name__)


def summarize(clicks: Sequence[Click]) -> tuple[LiveSummary, ...]:
    """A summary per link of a batch, links in the order their first click came."""
    per_link: dict[int, list[Click]] = {}
    for click in clicks:
        per_link.setdefault(click.link_id, []).append(click)
    summaries = []
    for link_id, its in per_link.items():
        bots = sum(c.is_bot for c in its)
        newest = sorted(its[-RECENT * 4 :], key=lambda c: c.occurred_at)[-RECENT:]
        recent = tuple(
            LiveClick(c.occurred_at, c.country, c.referrer_host, c.device, c.is_bot) for c in newest
        )
        summaries.append(LiveSummary(link_id, len(its) - bots, bots, recent))
    return tuple(summaries)


class LiveFeed:
    """What `ClickService` tells after each committed ingest."""

    async def ingested(self, clicks: Sequence[Click], new: int) -> None:
        """`clicks` were ingested and `new` of them were not stored before. Only a batch that
        was wholly new is told: which clicks of a partly seen one (a redelivery after a crash)
        are new is not known here, and a panel must never show a click twice."""
        if not new or new != len(clicks):
            return
        try:
            await self.send(summarize(clicks))
        except Exception as exc:  # Redis away, or a bug here: the clicks are counted anyway
            LIVE_PUBLISH_ERRORS.inc()
            log.warning("live_feed_not_told", error=repr(exc)[:200])

    async def send(self, summaries: tuple[LiveSummary, ...]) -> None:
        raise NotImplementedError


class LocalLiveFeed(LiveFeed):
    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    async def send(self, summaries: tuple[LiveSummary, ...]) -> None:
        self.hub.publish(summaries)


class RedisLiveFeed(LiveFeed):
    def __init__(self, redis: RedisClient, stream: str, *, max_length: int) -> None:
        self.redis = redis
        self.stream = stream
        self.max_length = max_length

    async def send(self, summaries: tuple[LiveSummary, ...]) -> None:
        # Capped (MAXLEN ~): readers only ever want what is new; nobody replays it.
        await self.redis.xadd(
            self.stream, {FIELD: pack(summaries)}, maxlen=self.max_length, approximate=True
        )
