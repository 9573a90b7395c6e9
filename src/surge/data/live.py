"""The live feed's message: what analytics tells the dashboard about clicks it just counted.

One message per ingested batch: a summary per link (its new human and bot clicks, and the last
few of them with only what the link's stats show anyway: time, country, referrer host, device).
No visitor id, no address. In-process it travels as these values (a `FanOut`); with Redis as
one JSON field of an entry in a capped stream (`RedisNames.live`), which every api reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from surge.platform.fanout import FanOut
from surge.platform.metrics import LIVE_DROPPED

RECENT = 5  # clicks per link and message that the panel lists
FIELD = b"s"  # the stream entry's field holding the message


@dataclass(slots=True, frozen=True)
class LiveClick:
    at: datetime
    country: str | None
    referrer: str | None
    device: str
    bot: bool


@dataclass(slots=True, frozen=True)
class LiveSummary:
    link_id: int
    clicks: int  # humans
    bots: int
    recent: tuple[LiveClick, ...]  # the newest last, at most RECENT


Message = tuple[LiveSummary, ...]
LiveHub = FanOut[Message]  # what an api process hands its live streams
QUEUE = 64  # messages a stream may fall behind by (~6 s of 100 ms batches) before losing some


def new_live_hub() -> LiveHub:
    return FanOut(QUEUE, on_drop=LIVE_DROPPED.inc)


def pack(summaries: Sequence[LiveSummary]) -> bytes:
    return orjson.dumps(
        [
            [
                s.link_id,
                s.clicks,
                s.bots,
                [[c.at.timestamp(), c.country, c.referrer, c.device, c.bot] for c in s.recent],
            ]
            for s in summaries
        ]
    )


def unpack(data: bytes) -> Message:
    """A message as `pack` wrote it; ValueError if it is not one."""
    try:
        rows: Any = orjson.loads(data)
        return tuple(
            LiveSummary(
                int(link_id),
                int(clicks),
                int(bots),
                tuple(
                    LiveClick(datetime.fromtimestamp(float(at), UTC), country, ref, device, bot)
                    for at, country, ref, device, bot in recent
                ),
            )
            for link_id, clicks, bots, recent in rows
        )
    except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"not a live message: {exc}") from exc
