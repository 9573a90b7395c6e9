"""clicks: region and city, located by GeoIP at ingest

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

- `clicks.region` (the first subdivision's name) and `clicks.city`, from `SURGE_GEOIP_DB` at
  ingest; NULL where no database located the click. The client address they were found from
  is never stored. Stats break clicks down by both (`daily_breakdowns` dimensions `region` and
  `city`, no schema change). Nullable columns rewrite no table on PostgreSQL (partitions
  included) and cost nothing per row that leaves them NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.add_column(sa.Column("region", sa.String(128), nullable=True))
        table.add_column(sa.Column("city", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.drop_column("city")
        table.drop_column("region")
