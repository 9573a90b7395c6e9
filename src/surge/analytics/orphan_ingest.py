"""Orphan visits at ingest: picked out of a click batch (link 0, surge.data.orphans) after
enrich, which gives them the same privacy switches and bot flag as clicks."""

from __future__ import annotations

from collections.abc import Sequence

from surge.analytics.enrich import Click
from surge.analytics.orphan_repository import OrphanVisit
from surge.data.events import ClickEvent
from surge.data.orphans import ORPHAN_KINDS, ORPHAN_LINK_ID, REGULAR_404, split_orphan_slug


def orphan_visit(event: ClickEvent, click: Click) -> OrphanVisit:
    """The stored row of an orphan event, from what enrich made of it (the same privacy
    switches and bot flag as a click's)."""
    domain, path = split_orphan_slug(event.slug)
    kind = event.target if event.target in ORPHAN_KINDS else REGULAR_404
    return OrphanVisit(
        id=click.id,
        occurred_at=click.occurred_at,
        domain=domain[:253],
        path=path.replace("\x00", "\ufffd")[:255],  # PostgreSQL text holds no NUL
        kind=kind,
        referrer_host=click.referrer_host,
        country=click.country,
        region=click.region,
        city=click.city,
        device=click.device,
        browser=click.browser,
        os=click.os,
        is_bot=click.is_bot,
        visitor_id=click.visitor_id,
    )


def split_orphans(
    events: Sequence[ClickEvent], enriched: list[Click]
) -> tuple[list[Click], list[OrphanVisit]]:
    """A batch's clicks of links, and its orphan visits (link 0) as their rows."""
    if not any(e.link_id == ORPHAN_LINK_ID for e in events):
        return enriched, []
    clicks: list[Click] = []
    orphans: list[OrphanVisit] = []
    for event, click in zip(events, enriched, strict=True):
        if event.link_id == ORPHAN_LINK_ID:
            orphans.append(orphan_visit(event, click))
        else:
            clicks.append(click)
    return clicks, orphans
