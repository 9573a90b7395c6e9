"""one trigram index over slug and URL for link search (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

`GET /api/v1/links?q=` now matches `slug || ' ' || url` (surge.links.repository,
search_clause): one GIN trigram index over that expression replaces 0003's two, one per column.
A rare term then costs one index scan instead of two and a BitmapOr, and the planner's estimate
of that scan is cheap enough for it to prefer the index over walking the owner's links newest
first.

`gin_pending_list_limit = 256` (kB): a GIN index first adds new entries to a pending list and
merges it into the index once it outgrows that limit (default 4 MB) or at a vacuum; every
search reads the whole list meanwhile. At the default, 250-500 pending pages made a rare term
cost 7-20 ms at 100k links (0.2 ms with none). 256 kB caps that at 32 pages. Measured at 100k
links inserted in one statement: default 4.9 s, 256 kB 4.7 s, 64 kB 9.0 s, no pending list at
all (fastupdate off: every insert merges its ~40 trigrams at once) 32 s: what `surge import`
and `surge seed` would pay.

The index is built inside the migration's transaction: writes to `links` wait for it (about 3 s
per 100k links on a 2-core machine). As in 0003, a role that cannot create pg_trgm gets a
warning with the statements to run, and search works by scanning until someone does. SQLite has
no trigram index: nothing to do there.
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_links_search_trgm ON links "
    "USING gin ((slug || ' ' || url) gin_trgm_ops) WITH (gin_pending_list_limit = 256)"
)
OLD_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_links_slug_trgm ON links USING gin (slug gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_links_url_trgm ON links USING gin (url gin_trgm_ops)",
)
DROP_OLD = (
    "DROP INDEX IF EXISTS ix_links_slug_trgm",
    "DROP INDEX IF EXISTS ix_links_url_trgm",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the migration
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        # Without pg_trgm, 0003's indexes cannot exist either: nothing to drop here. The drops
        # are in the advice for whoever ran 0003's (printed just before) by hand.
        log.warning(
            "pg_trgm could not be created (%s); link search will scan. As a superuser, run in "
            "this database: CREATE EXTENSION IF NOT EXISTS pg_trgm; %s; ANALYZE links; %s; %s;",
            str(exc.orig).splitlines()[0],
            INDEX,
            *DROP_OLD,
        )
        return
    bind.execute(text(INDEX))
    # The planner knows how many links a term matches from statistics of the indexed
    # expression, which only ANALYZE gathers; until then it takes every term for a rare one
    # and reads all matches of a common term through the index (100k links: ~200 ms instead
    # of ~3 ms), and autovacuum analyzes a table only after many of its rows change.
    bind.execute(text("ANALYZE links"))
    # Search no longer matches the columns one by one: their indexes would only slow writes.
    for statement in DROP_OLD:
        bind.execute(text(statement))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    trgm = bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    if trgm is not None:  # as 0003 left them: only where pg_trgm could be created
        for statement in OLD_INDEXES:
            bind.execute(text(statement))
    bind.execute(text("DROP INDEX IF EXISTS ix_links_search_trgm"))
