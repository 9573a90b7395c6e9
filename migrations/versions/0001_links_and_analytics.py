"""links and analytics

Revision ID: 0001
Revises:
Create Date: 2026-11-28 01:13:57.859769
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Monthly click partitions created with the table (PostgreSQL); `surge maintain` keeps creating
# them ahead of time afterwards (surge.analytics.partitions, same names and bounds).
MONTHS_BACK = 1
MONTHS_AHEAD = 3


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
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
    _create_clicks()
    op.create_table(
        "daily_visitors",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("link_id", "day", "visitor_id", name=op.f("pk_daily_visitors")),
    )
    op.create_table(
        "links",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("redirect_type", sa.SmallInteger(), nullable=False),
        sa.Column("owner_id", BIG_ID, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_clicks", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["api_keys.id"],
            name=op.f("fk_links_owner_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("slug", name=op.f("uq_links_slug")),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_owner_id_id", ["owner_id", "id"], unique=False)

    op.create_table(
        "link_tags",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_tags_link_id_links"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("link_id", "tag", name=op.f("pk_link_tags")),
    )
    with op.batch_alter_table("link_tags", schema=None) as batch_op:
        batch_op.create_index("ix_link_tags_tag", ["tag"], unique=False)


def _month_start(index: int) -> datetime:
    """The first instant (UTC) of month number `index` = year * 12 + month - 1."""
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _months_around(now: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) in UTC of each month from MONTHS_BACK before now to MONTHS_AHEAD after."""
    index = now.year * 12 + now.month - 1
    for i in range(index - MONTHS_BACK, index + MONTHS_AHEAD + 1):
        yield _month_start(i), _month_start(i + 1)


def _create_clicks() -> None:
    """Raw clicks. On PostgreSQL: partitioned by month on occurred_at, with a DEFAULT partition
    so that an insert never fails for lack of a partition; SQLite gets a plain table."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "clicks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        # A partitioned table's primary key must contain the partition key.
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_clicks")),
        **({"postgresql_partition_by": "RANGE (occurred_at)"} if postgres else {}),
    )
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_clicks_link_id_occurred_at", ["link_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_clicks_occurred_at", ["occurred_at"], unique=False, postgresql_using="brin"
        )
    if not postgres:
        return
    op.execute("CREATE TABLE clicks_default PARTITION OF clicks DEFAULT")
    # Bounds carry an explicit UTC offset: a bare date would be read in the session's time zone.
    for first, end in _months_around(datetime.now(UTC)):
        op.execute(
            f"CREATE TABLE clicks_p{first:%Y_%m} PARTITION OF clicks "
            f"FOR VALUES FROM ('{first.isoformat()}') TO ('{end.isoformat()}')"
        )


def downgrade() -> None:
    with op.batch_alter_table("link_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_link_tags_tag")

    op.drop_table("link_tags")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_owner_id_id")

    op.drop_table("links")
    op.drop_table("daily_visitors")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_occurred_at")
        batch_op.drop_index("ix_clicks_link_id_occurred_at")

    op.drop_table("clicks")  # on PostgreSQL this drops its partitions too
    op.drop_table("click_rollups")
    op.drop_table("api_keys")
