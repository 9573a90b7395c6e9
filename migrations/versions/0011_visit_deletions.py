"""analytics: visit deletions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

When a link's visits are deleted, the moment is kept per link: ingest drops any click of the link
from before it that arrives late (surge.analytics.ingest_sql), so deleted visits stay deleted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_deletions",
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_visit_deletions")),
    )


def downgrade() -> None:
    op.drop_table("visit_deletions")
