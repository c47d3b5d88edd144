"""search: customers' names indexed by their lower case; on PostgreSQL, emails, names, instrument ids and
RequestIds ordered by code point (COLLATE "C", SQLite's own order), so that the search box's prefixes are
ranges of their indexes

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_POINT_ORDERED = (("customers", "email", 254), ("customers", "name", 128), ("instruments", "id", 64),
                      ("api_calls", "request_id", 64))  # fmt: skip


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in CODE_POINT_ORDERED:
        op.alter_column(table, column, type_=sa.String(length, collation=collation))


def upgrade() -> None:
    _collate("C")
    op.create_index("ix_customers_name_folded", "customers", [sa.text("lower(name)")])


def downgrade() -> None:
    op.drop_index("ix_customers_name_folded", table_name="customers")
    _collate("default")
