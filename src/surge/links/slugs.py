"""Slugs: the random ones, and the names a custom one may not take."""

from __future__ import annotations

import secrets
import string

from surge.data.contracts import SLUG_PATTERN

BASE62 = string.digits + string.ascii_letters
RANDOM_SLUG_LENGTH = 7  # 62**7 ≈ 3.5e12: collisions are rare and retried
# A random slug asked for by length (Shlink's shortCodeLength): at least 4 (62**4 ≈ 1.5e7, the
# fewest a random slug can be drawn from without retries becoming common), at most what a slug
# may be (SLUG_PATTERN).
MIN_RANDOM_SLUG_LENGTH = 4
MAX_SLUG_LENGTH = 64

# Paths the services answer themselves (and a few we will want); compared case-insensitively.
RESERVED_SLUGS = frozenset(
    {
        "api",
        "docs",
        "redoc",
        "openapi.json",
        "healthz",
        "readyz",
        "livez",
        "metrics",
        "internal",
        "static",
        "admin",
        "favicon.ico",
        "robots.txt",
        "login",
        "logout",
        "app",  # the dashboard
        "rest",  # Shlink's REST API
    }
)


def random_slug(length: int = RANDOM_SLUG_LENGTH) -> str:
    """`length` random letters and digits that are not a reserved name."""
    while True:  # 7 letters can spell a reserved name, e.g. "metrics" or "healthz"
        slug = "".join(secrets.choice(BASE62) for _ in range(length))
        if slug.lower() not in RESERVED_SLUGS:
            return slug


def slug_length_problem(length: int) -> str | None:
    """Why a random slug cannot be `length` characters long, or None when it can."""
    if not MIN_RANDOM_SLUG_LENGTH <= length <= MAX_SLUG_LENGTH:
        return f"a random slug is {MIN_RANDOM_SLUG_LENGTH} to {MAX_SLUG_LENGTH} characters"
    return None


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot be a custom slug, or None when it can."""
    if not SLUG_PATTERN.fullmatch(slug):
        return "a slug is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"
    if slug.lower() in RESERVED_SLUGS:
        return f"'{slug}' is reserved"
    return None
