"""users: API keys and links belong to users

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Until now a link belonged to the key that created it. From here, keys and links belong to a
user (email, argon2 password hash, admin flag). Existing keys and links move to one admin user,
`admin@localhost`, without a password: `surge users reset-password --email admin@localhost`
gives it one.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MIGRATED_OWNER = "admin@localhost"


def upgrade() -> None:
    users = op.create_table(
        "users",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    bind = op.get_bind()
    owner = None
    if bind.execute(sa.text("SELECT count(*) FROM api_keys")).scalar_one():
        owner = bind.execute(
            sa.insert(users)
            .values(email=MIGRATED_OWNER, is_admin=True, created_at=datetime.now(UTC))
            .returning(users.c.id)
        ).scalar_one()
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("user_id", BIG_ID, nullable=True))
    if owner is not None:
        bind.execute(sa.text("UPDATE api_keys SET user_id = :owner"), {"owner": owner})
        bind.execute(sa.text("UPDATE links SET owner_id = :owner"), {"owner": owner})
    with op.batch_alter_table("api_keys") as table:
        table.alter_column("user_id", existing_type=BIG_ID, nullable=False)
        table.create_foreign_key(
            op.f("fk_api_keys_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        table.create_index(op.f("ix_api_keys_user_id"), ["user_id"])
    with op.batch_alter_table("links") as table:
        table.drop_constraint("fk_links_owner_id_api_keys", type_="foreignkey")
        table.create_foreign_key(
            op.f("fk_links_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.drop_constraint("fk_links_owner_id_users", type_="foreignkey")
    # Links go back to belonging to a key: each user's first key.
    op.execute(
        "UPDATE links SET owner_id = "
        "(SELECT min(id) FROM api_keys WHERE api_keys.user_id = links.owner_id)"
    )
    op.execute("DELETE FROM links WHERE owner_id IS NULL")
    with op.batch_alter_table("links") as table:
        table.create_foreign_key(
            "fk_links_owner_id_api_keys", "api_keys", ["owner_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("api_keys") as table:
        table.drop_index("ix_api_keys_user_id")
        table.drop_constraint("fk_api_keys_user_id_users", type_="foreignkey")
        table.drop_column("user_id")
    op.drop_table("users")
