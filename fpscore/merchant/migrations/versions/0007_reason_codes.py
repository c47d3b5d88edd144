"""reason codes: write-offs and refunds take a reason code, and a write-off the purchase it disputes

Rows from before are "other": their free-text reason is the note, and reads as before.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The codes as they were defined at this revision (fpscore.merchant.reasons).
WRITE_OFF_CODES = "('not_delivered', 'goodwill', 'uncollectable', 'other')"
REFUND_CODES = "('not_delivered', 'goodwill', 'other')"


def upgrade() -> None:
    # batch: SQLite adds a constraint to a table only by copying it
    for table, codes in (("write_offs", WRITE_OFF_CODES), ("refunds", REFUND_CODES)):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("reason_code", sa.String(16), server_default="other", nullable=False))
            batch.create_check_constraint(op.f(f"ck_{table}_reason_code"), f"reason_code IN {codes}")
    with op.batch_alter_table("write_offs") as batch:
        batch.add_column(
            sa.Column(
                "disputed_purchase_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            op.f("fk_write_offs_disputed_purchase_id_purchases"),
            "purchases",
            ["disputed_purchase_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_write_offs_disputed_purchase_id"), ["disputed_purchase_id"])


def downgrade() -> None:
    with op.batch_alter_table("write_offs") as batch:
        batch.drop_index(op.f("ix_write_offs_disputed_purchase_id"))
        batch.drop_constraint(op.f("fk_write_offs_disputed_purchase_id_purchases"), type_="foreignkey")
        batch.drop_column("disputed_purchase_id")
    for table in ("write_offs", "refunds"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_reason_code"), type_="check")
            batch.drop_column("reason_code")
