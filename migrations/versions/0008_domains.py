"""domains: short domains besides the default one; a slug is unique per domain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

`links.domain` is the host a link is served on, '' for the default domain (SURGE_PUBLIC_URL's
host, whatever it is: changing that URL moves no link). `domains` lists the other hosts an
admin added, each with where `/`, an unknown slug and an expired link go (optional). The unique
slug becomes unique per domain: (domain, slug), which is also the redirect's lookup.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("root_url", sa.String(length=2048), nullable=True),
        sa.Column("not_found_url", sa.String(length=2048), nullable=True),
        sa.Column("expired_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("host", name=op.f("uq_domains_host")),
    )
    with op.batch_alter_table("links") as table:
        table.add_column(
            sa.Column("domain", sa.String(length=253), nullable=False, server_default="")
        )
        table.drop_constraint("uq_links_slug", type_="unique")
        table.create_unique_constraint("uq_links_domain", ["domain", "slug"])


def downgrade() -> None:
    # Only possible while no slug is used on two domains.
    with op.batch_alter_table("links") as table:
        table.drop_constraint("uq_links_domain", type_="unique")
        table.create_unique_constraint("uq_links_slug", ["slug"])
        table.drop_column("domain")
    op.drop_table("domains")
