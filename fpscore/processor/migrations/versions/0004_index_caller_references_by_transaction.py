"""index caller references by transaction (every transaction INSERT checks the deferred key)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("caller_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_caller_references_transaction_id"), ["transaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("caller_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caller_references_transaction_id"))
