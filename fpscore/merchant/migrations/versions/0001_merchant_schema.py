"""merchant schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("instrument_id", sa.String(length=64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("fps_status", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("request_params", sa.Text(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_calls")),
    )
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_calls_caller_reference"), ["caller_reference"], unique=False)
        batch_op.create_index("ix_api_calls_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_calls_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_calls_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_calls_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index("ix_audit_events_created", ["created_at", "id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("email", name=op.f("uq_customers_email")),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('finance', 'support', 'analyst', 'troubleshooter', 'admin')", name=op.f("ck_staff_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    op.create_table(
        "instruments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sender_token_id", sa.String(length=64), nullable=False),
        sa.Column("funding_token_id", sa.String(length=64), nullable=True),
        sa.Column("settlement_token_id", sa.String(length=64), nullable=True),
        sa.Column("funding_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("credit_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("purchase_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_seen_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("debt_since", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name=op.f("ck_instruments_kind")),
        sa.CheckConstraint("status IN ('Active', 'Cancelled')", name=op.f("ck_instruments_status")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_instruments_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
    )
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instruments_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_instruments_kind_status", ["kind", "status", "id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('Open', 'Paid', 'PartlyRefunded', 'Refunded', 'Failed')",
            name=op.f("ck_orders_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "fundings",
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_fundings_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fundings")),
        sa.UniqueConstraint("caller_reference", name=op.f("uq_fundings_caller_reference")),
    )
    with op.batch_alter_table("fundings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fundings_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fundings_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fundings_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "purchases",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_alone_cents", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_purchases_instrument_id_instruments")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_purchases_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("caller_reference", name=op.f("uq_purchases_caller_reference")),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchases_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchases_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchases_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchases_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_settlements_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("caller_reference", name=op.f("uq_settlements_caller_reference")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "token_references",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("caller_reference_sender", sa.String(length=128), nullable=False),
        sa.Column("caller_reference_funding", sa.String(length=128), nullable=True),
        sa.Column("caller_reference_settlement", sa.String(length=128), nullable=True),
        sa.Column("funding_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("credit_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("purchase_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cbui_status", sa.String(length=4), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("instrument_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name=op.f("ck_token_references_kind")),
        sa.CheckConstraint(
            "status IN ('Started', 'Completed', 'Abandoned', 'Failed')",
            name=op.f("ck_token_references_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_token_references_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_token_references_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_references")),
        sa.UniqueConstraint(
            "caller_reference_funding", name=op.f("uq_token_references_caller_reference_funding")
        ),
        sa.UniqueConstraint(
            "caller_reference_sender", name=op.f("uq_token_references_caller_reference_sender")
        ),
        sa.UniqueConstraint(
            "caller_reference_settlement", name=op.f("uq_token_references_caller_reference_settlement")
        ),
    )
    with op.batch_alter_table("token_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_token_references_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "write_offs",
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_write_offs_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_offs")),
        sa.UniqueConstraint("caller_reference", name=op.f("uq_write_offs_caller_reference")),
    )
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_offs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_offs_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_offs_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("purchase_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_refunds_instrument_id_instruments")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchases.id"], name=op.f("fk_refunds_purchase_id_purchases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("caller_reference", name=op.f("uq_refunds_caller_reference")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_purchase_id"), ["purchase_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_transaction_id"), ["transaction_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_purchase_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_created_at"))

    op.drop_table("refunds")
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_offs_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_write_offs_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_write_offs_created_at"))

    op.drop_table("write_offs")
    with op.batch_alter_table("token_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_references_customer_id"))

    op.drop_table("token_references")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_settlements_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_settlements_created_at"))

    op.drop_table("settlements")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchases_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_purchases_order_id"))
        batch_op.drop_index(batch_op.f("ix_purchases_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_purchases_created_at"))

    op.drop_table("purchases")
    with op.batch_alter_table("fundings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fundings_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_fundings_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_fundings_created_at"))

    op.drop_table("fundings")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))

    op.drop_table("orders")
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_index("ix_instruments_kind_status")
        batch_op.drop_index(batch_op.f("ix_instruments_customer_id"))

    op.drop_table("instruments")
    op.drop_table("staff")
    op.drop_table("customers")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_created")
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))

    op.drop_table("audit_events")
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_calls_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_api_calls_request_id"))
        batch_op.drop_index(batch_op.f("ix_api_calls_instrument_id"))
        batch_op.drop_index("ix_api_calls_created")
        batch_op.drop_index(batch_op.f("ix_api_calls_caller_reference"))

    op.drop_table("api_calls")
