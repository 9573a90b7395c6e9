"""What a visitor asks of the redirect about tracking. Their ids: surge.data.visitors."""

from __future__ import annotations

# The headers of a visitor who asks not to be tracked (Global Privacy Control, Do Not Track):
# with a value of 1, a click or an orphan visit keeps nothing of them (redirect.app.private_row).
PRIVATE = frozenset({b"sec-gpc", b"dnt"})
