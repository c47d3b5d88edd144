"""ipn outbox

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ipn_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("notification_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_ipn_notifications_caller_id_callers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipn_notifications")),
    )
    with op.batch_alter_table("ipn_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ipn_notifications_due", ["delivered_at", "gave_up_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ipn_notifications_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ipn_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipn_notifications_subject_id"))
        batch_op.drop_index("ix_ipn_notifications_due")

    op.drop_table("ipn_notifications")
