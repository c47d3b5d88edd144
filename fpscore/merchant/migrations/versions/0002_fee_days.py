"""fee_days: the daily fee rollup, filled from the records already there

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fpscore.merchant import fee_days

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fee_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("fees_alone_cents", sa.BigInteger(), nullable=False),
        sa.Column("fees_paid_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name=op.f("ck_fee_days_kind")),
        sa.PrimaryKeyConstraint("day", "kind", "currency", "shard", name=op.f("pk_fee_days")),
    )
    fee_days.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("fee_days")
