"""One-time notes a page leaves in the session for the next page it sends the person to: kept
in the signed session cookie, so no address can make one up, and shown once."""

from __future__ import annotations

from fastapi import Request

DELETED_VISITS = "deleted_visits"


def note_deleted_visits(request: Request, short_url: str, deleted: int) -> None:
    request.session[DELETED_VISITS] = {"link": short_url, "deleted": deleted}


def deleted_visits(request: Request, short_url: str) -> int | None:
    """How many visits of the link were just deleted, once (None: none just now)."""
    note = request.session.get(DELETED_VISITS)
    if not isinstance(note, dict) or note.get("link") != short_url:
        return None
    del request.session[DELETED_VISITS]
    return int(note["deleted"])
