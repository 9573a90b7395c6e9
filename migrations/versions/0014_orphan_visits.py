"""analytics: orphan visits

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

- `orphan_visits`: requests on a short domain that found no link (the domain's root, an unknown
  or expired slug, any other path), one row each, under the raw clicks' retention.
- `hourly_orphan_visits`: their one rollup, per hour, domain and kind (bots apart).
A deletion of every orphan visit is kept in `visit_deletions` as link 0 (no schema change).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orphan_visits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("referrer_host", sa.String(255), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("region", sa.String(128), nullable=True),
        sa.Column("city", sa.String(128), nullable=True),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("os", sa.String(64), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_orphan_visits")),
    )
    op.create_index(
        "ix_orphan_visits_occurred_at",
        "orphan_visits",
        ["occurred_at"],
        postgresql_using="brin",
    )
    op.create_table(
        "hourly_orphan_visits",
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket", "domain", "kind", "is_bot", name=op.f("pk_hourly_orphan_visits")
        ),
    )


def downgrade() -> None:
    op.drop_table("hourly_orphan_visits")
    op.drop_index("ix_orphan_visits_occurred_at", table_name="orphan_visits")
    op.drop_table("orphan_visits")
