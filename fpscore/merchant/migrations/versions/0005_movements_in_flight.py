"""movements in flight: a partial index of the Requested and Pending movements of each kind

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("purchases", "fundings", "settlements", "write_offs", "refunds")
IN_FLIGHT = "status IN ('Requested', 'Pending')"


def upgrade() -> None:
    for table in TABLES:
        where = sa.text(IN_FLIGHT)
        op.create_index(
            f"ix_{table}_in_flight", table, ["status", "id"], sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_in_flight", table_name=table)
