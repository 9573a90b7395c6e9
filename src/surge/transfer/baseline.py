"""The clicks a link brought from another shortener, added where stats and limits count.

A peer's export has a total, not when or from where its clicks came, so the baseline is placed
at the link's creation (kept from the peer): it counts in `total` and `bot_clicks` of any stats
range that includes that moment, and always towards `max_clicks`. It is in neither the time
series nor the breakdowns, which would have to invent a date and a referrer for it.
"""

from __future__ import annotations

from datetime import datetime

from surge.data.contracts import LinkStats
from surge.platform.db import SessionMaker
from surge.transfer.repository import baseline_of


async def with_imported_clicks(
    sessions: SessionMaker, link_id: int, created_at: datetime, stats: LinkStats
) -> LinkStats:
    if not stats.from_ <= created_at < stats.to:
        return stats
    async with sessions() as session:
        baseline = await baseline_of(session, link_id)
    if baseline is None:
        return stats
    return stats.model_copy(
        update={
            "total": stats.total + baseline.clicks,
            "bot_clicks": stats.bot_clicks + baseline.bot_clicks,
        }
    )


async def imported_click_count(sessions: SessionMaker, link_id: int) -> int:
    """All the clicks `link_id` had before it came here, bots included (what `max_clicks` is
    measured against, like the clicks counted here)."""
    async with sessions() as session:
        baseline = await baseline_of(session, link_id)
    return baseline.clicks + baseline.bot_clicks if baseline else 0
