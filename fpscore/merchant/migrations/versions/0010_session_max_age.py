"""staff_sessions: a session also ends at its maximum age (end_reason 'expired')

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "('sign_out', 'idle', 'disabled', 'password_reset')"
AFTER = "('sign_out', 'idle', 'disabled', 'password_reset', 'expired')"


def _end_reasons(listed: str) -> None:
    # batch: SQLite changes a constraint only by copying the table
    with op.batch_alter_table("staff_sessions") as batch:
        batch.drop_constraint(op.f("ck_staff_sessions_end_reason"), type_="check")
        batch.create_check_constraint(op.f("ck_staff_sessions_end_reason"), f"end_reason IN {listed}")


def upgrade() -> None:
    _end_reasons(AFTER)


def downgrade() -> None:
    op.execute("UPDATE staff_sessions SET end_reason = 'idle' WHERE end_reason = 'expired'")
    _end_reasons(BEFORE)
