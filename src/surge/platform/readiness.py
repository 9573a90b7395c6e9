"""The readiness verdict from a report per dependency: no import of the database layer, so the
redirect (which never loads SQLAlchemy) shares it."""

from __future__ import annotations


def readiness_status(report: dict[str, str]) -> tuple[str, int]:
    """ok (200), degraded (200: serving, without some dependency) or unavailable (503)."""
    if all(v == "ok" for v in report.values()):
        return "ok", 200
    if all(v == "ok" or v.startswith("degraded") for v in report.values()):
        return "degraded", 200
    return "unavailable", 503
