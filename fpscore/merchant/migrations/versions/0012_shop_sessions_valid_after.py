"""shop_accounts.sessions_valid_after: signing out ends every storefront session signed in before it

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sessions_valid_after", fpscore.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("shop_accounts", schema=None) as batch_op:
        batch_op.drop_column("sessions_valid_after")
