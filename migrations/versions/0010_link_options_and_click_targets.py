"""links: password, query forwarding, title, valid since, crawlable; clicks: the target served

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

- `password_hash` (argon2; NULL: not protected).
- `forward_query`: the visitor's query string is merged into the target's; true for every
  link, existing ones included, as Shlink does by default.
- `title`, `valid_since` (before it the link answers as unknown), `crawlable` (listed in the
  short domain's robots.txt).
- `clicks.target`: where a link with redirect rules sent the click (NULL for a link without
  rules); stats break clicks down by it. Adding a nullable column rewrites no table on
  PostgreSQL (partitions included) and costs nothing per row that leaves it NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        table.add_column(
            sa.Column("forward_query", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        table.add_column(sa.Column("title", sa.String(512), nullable=True))
        table.add_column(sa.Column("valid_since", sa.DateTime(timezone=True), nullable=True))
        table.add_column(
            sa.Column("crawlable", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("clicks") as table:
        table.add_column(sa.Column("target", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.drop_column("target")
    with op.batch_alter_table("links") as table:
        for column in ("crawlable", "valid_since", "title", "forward_query", "password_hash"):
            table.drop_column(column)
