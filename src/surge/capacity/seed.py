"""`surge seed`: fill a database with links and clicks, fast, through the real ingest path.

Links are inserted in bulk for one owner (the user of an API key named "seed"); clicks are
generated as the redirect would emit them (random ids, realistic user agents, referrers and
countries, daily visitor ids) and handed to `ClickService.ingest` in batches, so rollups and
visitor counters are exactly what production traffic would leave. Link popularity follows a Zipf
law (the first link is the hottest); timestamps spread evenly over the last `days` days, in time
order as a redirect sends them, or shuffled.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from surge.accounts.keys import KeyService
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.service import ClickService
from surge.capacity.traffic import BOTS, BROWSERS, COUNTRIES, REFERRERS, zipf_weights
from surge.data.events import ClickEvent, click_ids
from surge.links.repository import LinkRepository
from surge.platform.clock import utc_now
from surge.platform.db import SessionMaker, transaction

# The same visitors as a load test's (surge.capacity.traffic), one bot among them.
USER_AGENTS = (*BROWSERS, BOTS[0])


@dataclass(slots=True, frozen=True)
class SeedPlan:
    links: int
    clicks: int
    days: float = 90.0
    visitors: int | None = None  # distinct visitors per day; default: every click a new one
    batch: int = 5_000
    shuffle: bool = False
    seed: int = 1


@dataclass(slots=True, frozen=True)
class SeedResult:
    owner_id: int
    link_ids: list[int]
    clicks: int
    ingested: int
    seconds: float


def click_events(
    plan: SeedPlan, link_ids: Sequence[int], slugs: Sequence[str], now: datetime
) -> Iterator[list[ClickEvent]]:
    """The plan's clicks, a batch at a time."""
    rng = random.Random(plan.seed)
    weights = zipf_weights(len(link_ids))
    span = timedelta(days=plan.days).total_seconds()
    start = now.timestamp() - span
    order = list(range(plan.clicks))
    if plan.shuffle:
        rng.shuffle(order)
    indexes = list(range(len(link_ids)))
    new_id = click_ids()
    for first in range(0, plan.clicks, plan.batch):
        chunk = order[first : first + plan.batch]
        picks = rng.choices(indexes, cum_weights=weights, k=len(chunk))
        batch = []
        for position, pick in zip(chunk, picks, strict=True):
            ts = start + span * position / plan.clicks
            visitor = (
                os.urandom(16).hex()
                if plan.visitors is None
                else f"{int(ts // 86400)}-{rng.randrange(plan.visitors)}"
            )
            batch.append(
                ClickEvent(
                    id=new_id(),
                    link_id=link_ids[pick],
                    slug=slugs[pick],
                    ts=ts,
                    referrer=rng.choice(REFERRERS),
                    user_agent=rng.choice(USER_AGENTS),
                    country=rng.choice(COUNTRIES),
                    visitor=visitor,
                )
            )
        yield batch


async def seed(
    sessions: SessionMaker,
    plan: SeedPlan,
    *,
    progress: bool = True,
    owner_name: str = "seed",
    clickhouse: ClickHouseClicks | None = None,
) -> SeedResult:
    """Seed `plan` for a new owner (an API key named `owner_name`, shown nowhere); the clicks
    into `clickhouse` when given (the click store of SURGE_CLICKHOUSE_URL)."""
    now = utc_now()
    owner_id = (await KeyService(sessions).create(owner_name)).user_id
    prefix = os.urandom(3).hex()
    slugs = [f"seed-{prefix}-{i}" for i in range(plan.links)]
    link_ids: list[int] = []
    with tqdm(total=plan.links, unit="link", disable=not progress, desc="links") as bar:
        for first in range(0, plan.links, 10_000):
            chunk = [
                (slug, f"https://example.com/landing/{first + i}")
                for i, slug in enumerate(slugs[first : first + 10_000])
            ]
            async with transaction(sessions) as session:
                link_ids += await LinkRepository(session).add_many(owner_id, chunk, now)
            bar.update(len(chunk))
    clicks = ClickService(sessions, clickhouse=clickhouse)
    ingested = 0
    started = time.perf_counter()
    with tqdm(total=plan.clicks, unit="click", disable=not progress, desc="clicks") as bar:
        for batch in click_events(plan, link_ids, slugs, now):
            ingested += (await clicks.ingest(batch)).ingested
            bar.update(len(batch))
    async with transaction(sessions) as session:
        # Planner statistics for what was just bulk-loaded (autovacuum would, some time later).
        await session.execute(text("ANALYZE" if _is_postgres(session) else "ANALYZE main"))
    return SeedResult(owner_id, link_ids, plan.clicks, ingested, time.perf_counter() - started)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
