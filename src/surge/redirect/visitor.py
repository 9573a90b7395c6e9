"""What a visitor asks of the redirect about tracking. Their ids: surge.data.visitors."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surge.data.events import ClickRow
    from surge.redirect.responses import Target

# The headers of a visitor who asks not to be tracked (Global Privacy Control, Do Not Track):
# with a value of 1, a click or an orphan visit keeps nothing of them (private_row).
PRIVATE = frozenset({b"sec-gpc", b"dnt"})


def private_row(
    click_id: str, target: Target, now: float, user_agent: str | None, index: int
) -> ClickRow:
    """The click of a visitor who asked not to be tracked: its link, time and target, and the
    user agent only for analytics to tell whether a bot clicked (it keeps no more of it); no
    referrer, country, address, and an empty visitor, which analytics counts as no one."""
    label = target.labels[index] if target.labels else None
    return (click_id, target.link_id, target.slug, now, None, user_agent, None, "", label, None)
