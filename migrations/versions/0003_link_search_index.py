"""trigram indexes for link search (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`GET /api/v1/links?q=` matches `slug` and `url` with ILIKE '%q%'. On PostgreSQL, GIN trigram
indexes (pg_trgm) serve that without reading every link. Creating the extension needs a role
allowed to (a superuser, or the database owner on PostgreSQL 13+ where pg_trgm is trusted); when
this migration cannot, it says so and goes on: search still works, by a scan, until an operator
runs the two statements it prints. SQLite has no trigram index: there search scans the owner's
links (see docs/analytics.md for the measured bound).
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_links_slug_trgm ON links USING gin (slug gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_links_url_trgm ON links USING gin (url gin_trgm_ops)",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the migration
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.warning(
            "pg_trgm could not be created (%s); link search will scan. As a superuser, run in "
            "this database: CREATE EXTENSION pg_trgm; %s; %s;",
            str(exc.orig).splitlines()[0],
            *INDEXES,
        )
        return
    for statement in INDEXES:
        bind.execute(text(statement))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_links_url_trgm")
    op.execute("DROP INDEX IF EXISTS ix_links_slug_trgm")
