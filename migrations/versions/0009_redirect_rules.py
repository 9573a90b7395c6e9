"""links: redirect rules

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A link's redirect rules as one JSON text (surge.data.rules: an ordered list, each a target and
its conditions); NULL for a link without rules. They travel with the link to the redirect,
which evaluates them on its cached entry, so one column read with the link is all they cost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.add_column(sa.Column("rules", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.drop_column("rules")
