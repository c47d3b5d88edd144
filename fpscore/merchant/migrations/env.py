"""Alembic environment for the merchant database; run through `fpscore.db.migrate`."""

from alembic import context

from fpscore.merchant.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
