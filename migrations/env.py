"""Alembic environment: runs on the connection `surge.platform.migrations` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from surge.data.tables import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `surge migrate`, not the bare alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
