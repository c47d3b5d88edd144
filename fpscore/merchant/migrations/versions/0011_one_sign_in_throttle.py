"""sign_in_failures counts every kind of attempt (staff, customers, sign-ups) under a `kind` column, an
account being a user name or an e-mail address; the storefront's own shop_sign_in_failures is dropped.
Counts are forgotten a window after their last failure anyway, so both tables are made anew: every count
starts afresh.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = "scope IN ('all', 'client', 'account', 'account_client')"


def _drop(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f"ix_{table}_expires_at"))
    op.drop_table(table)


def _index(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_expires_at"), ["expires_at"], unique=False)


def upgrade() -> None:
    _drop("shop_sign_in_failures")
    _drop("sign_in_failures")
    op.create_table(
        "sign_in_failures",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('staff', 'customer', 'sign_up')", name=op.f("ck_sign_in_failures_kind")),
        sa.CheckConstraint(SCOPES, name=op.f("ck_sign_in_failures_scope")),
        sa.PrimaryKeyConstraint("kind", "scope", "account", "client", name=op.f("pk_sign_in_failures")),
    )
    _index("sign_in_failures")


def downgrade() -> None:
    _drop("sign_in_failures")
    op.create_table(
        "sign_in_failures",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(SCOPES, name=op.f("ck_sign_in_failures_scope")),
        sa.PrimaryKeyConstraint("scope", "username", "client", name=op.f("pk_sign_in_failures")),
    )
    _index("sign_in_failures")
    op.create_table(
        "shop_sign_in_failures",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shop_sign_in_failures")),
    )
    _index("shop_sign_in_failures")
