"""clicks: an index by link, for exports of a link's raw visits

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

`ix_clicks_link_id_occurred_at_id` on `clicks (link_id, occurred_at, id)`: a download of a
link's raw visits (`GET /api/v1/links/{slug}/visits`) reads them in pages of a few thousand,
each one range of this index after the last row of the page before (keyset paging), so a page
costs the same at the first row and at the millionth, and no other link's clicks are read.
Migration 0002 dropped the `(link_id, occurred_at)` index when nothing read raw clicks by
link; this one adds `id` so the key is unique and the page boundary exact. On PostgreSQL the
index on the partitioned table is built on every partition (and on the ones made later).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_clicks_link_id_occurred_at_id"


def upgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.create_index(INDEX, ["link_id", "occurred_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.drop_index(INDEX)
