"""rollups flat in clicks: hourly totals, daily breakdowns with a unique-visitor counter

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

`click_rollups` (hourly, every dimension, keyed link → bucket → dimension) is replaced by
`hourly_clicks` (totals per hour) and `daily_breakdowns` (per day and dimension value, keyed
link → day → dimension, plus the day's unique visitors as dimension "visitors"), filled from it
and from `daily_visitors`, so stats never count per-visitor rows again.

The (link_id, occurred_at) index of `clicks` goes: no query reads raw clicks by link any more,
and keeping it up slowed every raw insert, most when clicks arrive out of order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _day_of(column: str) -> str:
    """SQL for the UTC date of a timestamp column (SQLite keeps naive UTC text)."""
    if op.get_bind().dialect.name == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def _midnight_of(column: str) -> str:
    """SQL for the UTC midnight starting a date column."""
    if op.get_bind().dialect.name == "postgresql":
        return f"({column}::timestamp AT TIME ZONE 'UTC')"
    return f"datetime({column})"


def upgrade() -> None:
    op.create_table(
        "hourly_clicks",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("link_id", "bucket", "is_bot", name=op.f("pk_hourly_clicks")),
    )
    op.create_table(
        "daily_breakdowns",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "link_id", "day", "dimension", "value", "is_bot", name=op.f("pk_daily_breakdowns")
        ),
    )
    op.execute(
        "INSERT INTO hourly_clicks (link_id, bucket, is_bot, clicks) "
        "SELECT link_id, bucket, is_bot, clicks FROM click_rollups WHERE dimension = 'total'"
    )
    day = _day_of("bucket")
    op.execute(
        "INSERT INTO daily_breakdowns (link_id, dimension, day, value, is_bot, clicks) "
        f"SELECT link_id, dimension, {day}, value, is_bot, SUM(clicks) FROM click_rollups "
        f"WHERE dimension <> 'total' GROUP BY link_id, dimension, {day}, value, is_bot"
    )
    op.execute(
        "INSERT INTO daily_breakdowns (link_id, dimension, day, value, is_bot, clicks) "
        "SELECT link_id, 'visitors', day, '', false, COUNT(*) FROM daily_visitors "
        "GROUP BY link_id, day"
    )
    op.drop_table("click_rollups")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_link_id_occurred_at")


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_clicks_link_id_occurred_at", ["link_id", "occurred_at"], unique=False
        )
    op.create_table(
        "click_rollups",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "link_id", "bucket", "dimension", "value", "is_bot", name=op.f("pk_click_rollups")
        ),
    )
    # Totals come back by the hour; breakdowns only by the day (at midnight UTC): the hours
    # within a day were not kept.
    op.execute(
        "INSERT INTO click_rollups (link_id, bucket, dimension, value, is_bot, clicks) "
        "SELECT link_id, bucket, 'total', '', is_bot, clicks FROM hourly_clicks"
    )
    op.execute(
        "INSERT INTO click_rollups (link_id, bucket, dimension, value, is_bot, clicks) "
        f"SELECT link_id, {_midnight_of('day')}, dimension, value, is_bot, clicks "
        "FROM daily_breakdowns "
        "WHERE dimension <> 'visitors'"
    )
    op.drop_table("daily_breakdowns")
    op.drop_table("hourly_clicks")
