"""The Shlink REST API's router: every /rest/ route, the catch-all (preflight, 404) last.

Left out of Surge's OpenAPI description (`/docs`): Shlink's own description is the reference
for these routes, and Surge's fuzzing of its description covers /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from surge.shlink import orphan_visits, other, short_urls, visits

router = APIRouter(include_in_schema=False)
router.include_router(short_urls.router)
router.include_router(visits.router)
router.include_router(orphan_visits.router)
router.include_router(other.router)  # its /rest/{path} catch-all must come after the rest
