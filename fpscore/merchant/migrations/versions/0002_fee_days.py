"""fee_days: the daily fee rollup, filled from the records already there

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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
    _fill()


# The rule of fpscore.merchant.fee_days at this revision, frozen here so that later code cannot change
# what this step does: per UTC day, kind and currency, successful purchases (less the share of their fee
# alone that their refunds take back) and the fees of successful fundings and settlements, in shard 0.
_FILL = """
INSERT INTO fee_days (day, kind, currency, shard, purchases, purchase_cents, refunded_cents,
                      fees_alone_cents, fees_paid_cents)
SELECT {day}, i.kind, f.currency, 0, SUM(f.purchases), SUM(f.purchase_cents), SUM(f.refunded_cents),
       SUM(f.fees_alone_cents), SUM(f.fees_paid_cents)
FROM (
    SELECT instrument_id, created_at, currency, 1 AS purchases, amount_cents AS purchase_cents,
           refunded_cents,
           fee_alone_cents - CASE WHEN refunded_cents = 0 THEN 0
               ELSE (fee_alone_cents * refunded_cents * 2 + amount_cents) / (amount_cents * 2) END
               AS fees_alone_cents,
           0 AS fees_paid_cents
    FROM purchases WHERE status = 'Success'
    UNION ALL
    SELECT instrument_id, created_at, currency, 0, 0, 0, 0, fee_cents
    FROM fundings WHERE status = 'Success'
    UNION ALL
    SELECT instrument_id, created_at, currency, 0, 0, 0, 0, fee_cents
    FROM settlements WHERE status = 'Success'
) AS f
JOIN instruments AS i ON i.id = f.instrument_id
GROUP BY {day}, i.kind, f.currency
"""


def _fill() -> None:
    bind = op.get_bind()
    day = (
        "date(f.created_at)"
        if bind.dialect.name == "sqlite"
        else "CAST(f.created_at AT TIME ZONE 'UTC' AS DATE)"
    )
    bind.execute(sa.text(_FILL.format(day=day)))


def downgrade() -> None:
    op.drop_table("fee_days")
