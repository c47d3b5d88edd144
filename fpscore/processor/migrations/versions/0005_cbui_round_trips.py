"""cbui round trips (a start URL's first use, the one end of its round trip and the return it got)

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cbui_round_trips",
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("caller_reference_sender", sa.String(length=128), nullable=False),
        sa.Column("opened_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("buyer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.CheckConstraint("outcome IN ('Confirmed', 'Cancelled')", name=op.f("ck_cbui_round_trips_outcome")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_cbui_round_trips_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_cbui_round_trips_caller_id_callers")
        ),
        sa.PrimaryKeyConstraint("caller_id", "caller_reference_sender", name=op.f("pk_cbui_round_trips")),
    )


def downgrade() -> None:
    op.drop_table("cbui_round_trips")
