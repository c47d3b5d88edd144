"""transactions pending: a partial index of each caller's Pending transactions (GetAccountBalance)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'Pending'"


def upgrade() -> None:
    where = sa.text(PENDING)
    op.create_index(
        "ix_transactions_caller_pending",
        "transactions",
        ["caller_id"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_caller_pending", table_name="transactions")
