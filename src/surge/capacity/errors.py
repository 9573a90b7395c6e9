"""The one error `surge capacity` and `surge loadtest` raise for what the user can fix."""

from __future__ import annotations


class CapacityError(Exception):
    """Bad input or an unusable measurement: one line on stderr, exit code 2."""
