"""Visitor ids: the same person (address and agent) is one visitor a UTC day, and no more."""

from __future__ import annotations

import re

from surge.data.visitors import VisitorHasher

DAY = 86_400.0
NOON = 20_000 * DAY + 12 * 3600  # a UTC noon


def test_one_client_is_one_visitor_a_day_and_two_clients_are_two() -> None:
    visitors = VisitorHasher("secret")
    first = visitors.visitor_id("192.0.2.1", "ua", NOON)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert "192.0.2.1" not in first
    assert visitors.visitor_id("192.0.2.1", "ua", NOON + 3600) == first  # later that day
    assert visitors.visitor_id("192.0.2.2", "ua", NOON) != first
    assert visitors.visitor_id("192.0.2.1", "other ua", NOON) != first


def test_the_salt_changes_at_utc_midnight_and_with_the_secret() -> None:
    visitors = VisitorHasher("secret")
    before_midnight = visitors.visitor_id("192.0.2.1", "ua", NOON + 12 * 3600 - 1)
    after_midnight = visitors.visitor_id("192.0.2.1", "ua", NOON + 12 * 3600)
    assert before_midnight != after_midnight  # yesterday's ids cannot be joined to today's
    # Back to the day before (a late click in a batch): that day's id again, not today's.
    assert visitors.visitor_id("192.0.2.1", "ua", NOON) == before_midnight
    assert VisitorHasher("other").visitor_id("192.0.2.1", "ua", NOON) != before_midnight
