"""links: the click counts a link brought from another shortener

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-15

`surge import` keeps each link's total clicks at the peer it came from (human and bots) as a
baseline the stats add to (surge.transfer.baseline). Nullable: links made here have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.add_column(sa.Column("imported_clicks", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("imported_bot_clicks", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.drop_column("imported_bot_clicks")
        table.drop_column("imported_clicks")
