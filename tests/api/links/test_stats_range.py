"""A stats range is clamped to the link's lifetime: what lies before it was made or after now
has no clicks, so a long range is answered, not refused (a held-out fuzz run found
`from=2000-01-01` refused as range-too-large for a link made that day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from surge.accounts.user_repository import UserRepository
from surge.links.repository import LinkRepository, LinkValues
from surge.links.service import lifetime_range
from surge.platform.db import transaction
from surge.platform.problems import ProblemError
from tests.conftest import Surge
from tests.helpers import LINKS

MADE = datetime(2027, 6, 1, 12, tzinfo=UTC)
NOW = datetime(2027, 6, 15, 10, 30, tzinfo=UTC)


def test_the_range_loses_what_lies_before_the_link_or_after_now() -> None:
    early, late = datetime(2000, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC)
    assert lifetime_range(early, late, MADE, NOW) == (MADE, NOW)
    assert lifetime_range(early, None, MADE, NOW) == (MADE, None)  # `to` defaults to now
    inside = (MADE + timedelta(days=1), NOW - timedelta(days=1))
    assert lifetime_range(*inside, MADE, NOW) == inside
    # Wholly outside the lifetime, or invalid: left for analytics to answer or refuse.
    before = (early, early + timedelta(days=1))
    assert lifetime_range(*before, MADE, NOW) == before
    assert lifetime_range(late, early, MADE, NOW) == (late, early)
    naive = datetime(2000, 1, 1)
    assert lifetime_range(naive, None, MADE, NOW) == (naive, None)


async def test_a_range_from_2000_to_far_ahead_is_answered(
    surge: Surge, key: dict[str, str]
) -> None:
    made = await surge.client.post(
        LINKS, json={"url": "https://e.com/", "slug": "new"}, headers=key
    )
    created = datetime.fromisoformat(made.json()["created_at"].replace("Z", "+00:00"))
    await surge.client.get("/new")
    for interval in ("hour", "day"):
        stats = await surge.stats(
            "new",
            key,
            **{"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"},
            interval=interval,
        )
        assert stats["total"] == 1
        assert datetime.fromisoformat(stats["from"].replace("Z", "+00:00")) == created
        assert datetime.fromisoformat(stats["to"].replace("Z", "+00:00")) <= datetime.now(UTC)
    # What still exceeds the bound after clamping is refused: a link made years ago (an
    # imported one keeps its peer's creation time), by the hour since then.
    async with transaction(surge.links.sessions) as session:
        owner = await UserRepository(session).add(None, None, is_admin=False, now=MADE)
        await LinkRepository(session).add(
            owner,
            [("", "old", LinkValues("https://e.com/", 302, None, None, ()))],
            MADE.replace(year=2020),
        )
    with pytest.raises(ProblemError) as refused:
        await surge.links.stats(
            None, "old", start=datetime(2000, 1, 1, tzinfo=UTC), end=None, interval="hour"
        )
    assert refused.value.problem.name == "range-too-large"
