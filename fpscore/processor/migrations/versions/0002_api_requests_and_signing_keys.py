"""api requests and signing keys

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "api_requests",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("access_key_id", sa.String(length=128), nullable=True),
        sa.Column("caller_reference", sa.String(length=128), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_api_requests_caller_id_callers")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_api_requests")),
    )
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_requests_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_requests_received_at"))

    op.drop_table("api_requests")
    op.drop_table("signing_keys")
