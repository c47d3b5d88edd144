"""processor core schema

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


BALANCED_TRIGGER = """
CREATE FUNCTION ledger_entries_balanced() RETURNS trigger AS $$
BEGIN
    IF (SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries
        WHERE transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'ledger entries of transaction % do not sum to zero', NEW.transaction_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entries_balanced();
"""


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('funding', 'prepaid', 'receivable', 'caller', 'fees', 'bad_debt')",
            name=op.f("ck_ledger_accounts_kind"),
        ),
        sa.CheckConstraint(
            "kind NOT IN ('prepaid', 'receivable') OR balance_cents >= 0",
            name=op.f("ck_ledger_accounts_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_table(
        "buyers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("funding_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["funding_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_buyers_funding_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyers")),
        sa.UniqueConstraint("email", name=op.f("uq_buyers_email")),
    )
    op.create_table(
        "callers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ipn_url", sa.String(length=2048), nullable=True),
        sa.Column("balance_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "bad_debt_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bad_debt_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_callers_bad_debt_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["balance_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_callers_balance_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callers")),
        sa.UniqueConstraint("email", name=op.f("uq_callers_email")),
    )
    op.create_table(
        "credentials",
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("secret_access_key", sa.String(length=128), nullable=False),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["caller_id"], ["callers.id"], name=op.f("fk_credentials_caller_id_callers")),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_credentials")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_caller_id"), ["caller_id"], unique=False)

    op.create_table(
        "instruments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("buyer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("funding_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("credit_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("purchase_limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('Prepaid', 'Credit')", name=op.f("ck_instruments_kind")),
        sa.CheckConstraint("status IN ('Active', 'Cancelled')", name=op.f("ck_instruments_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_instruments_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_instruments_buyer_id_buyers")),
        sa.ForeignKeyConstraint(["caller_id"], ["callers.id"], name=op.f("fk_instruments_caller_id_callers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("account_id", name=op.f("uq_instruments_account_id")),
    )
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instruments_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_instruments_caller_id"), ["caller_id"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("friendly_name", sa.String(length=128), nullable=True),
        sa.Column("payment_reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "role IN ('Funding', 'PrepaidSender', 'CreditSender', 'Settlement')", name=op.f("ck_tokens_role")
        ),
        sa.CheckConstraint("status IN ('Active', 'Inactive')", name=op.f("ck_tokens_status")),
        sa.ForeignKeyConstraint(["caller_id"], ["callers.id"], name=op.f("fk_tokens_caller_id_callers")),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_tokens_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("caller_id", "caller_reference", name="uq_tokens_caller_reference"),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_instrument_id"), ["instrument_id"], unique=False)

    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=35), nullable=False),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("caller_description", sa.String(length=160), nullable=True),
        sa.Column("sender_description", sa.String(length=160), nullable=True),
        sa.Column("sender_token_id", sa.String(length=64), nullable=True),
        sa.Column("instrument_id", sa.String(length=64), nullable=True),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=35), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_transactions_amount_positive")),
        sa.CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents",
            name=op.f("ck_transactions_refunded_range"),
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_transactions_caller_id_callers")
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_transactions_instrument_id_instruments")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["transactions.id"], name=op.f("fk_transactions_parent_id_transactions")
        ),
        sa.ForeignKeyConstraint(
            ["sender_token_id"], ["tokens.id"], name=op.f("fk_transactions_sender_token_id_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_caller_created", ["caller_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transactions_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transactions_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "caller_references",
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("caller_reference", sa.String(length=128), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=True),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_caller_references_caller_id_callers")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_caller_references_transaction_id_transactions"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("caller_id", "action", "caller_reference", name=op.f("pk_caller_references")),
    )
    with op.batch_alter_table("caller_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_caller_references_created_at"), ["created_at"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_id", sa.String(length=35), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_ledger_entries_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_entries_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account", ["account_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False
        )

    op.bulk_insert(
        sa.table(
            "ledger_accounts",
            sa.column("code", sa.String),
            sa.column("kind", sa.String),
            sa.column("currency", sa.String),
            sa.column("balance_cents", sa.BigInteger),
            sa.column("created_at", fpscore.db.UtcDateTime),
        ),
        [
            {
                "code": "fees:USD",
                "kind": "fees",
                "currency": "USD",
                "balance_cents": 0,
                "created_at": fpscore.db.utcnow(),
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The database itself refuses to commit a transaction whose entries do not sum to zero.
        op.execute(BALANCED_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_entries_balanced ON ledger_entries")
        op.execute("DROP FUNCTION ledger_entries_balanced()")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index("ix_ledger_entries_account")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("caller_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caller_references_created_at"))

    op.drop_table("caller_references")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_parent_id"))
        batch_op.drop_index(batch_op.f("ix_transactions_instrument_id"))
        batch_op.drop_index("ix_transactions_caller_created")

    op.drop_table("transactions")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_instrument_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instruments_caller_id"))
        batch_op.drop_index(batch_op.f("ix_instruments_buyer_id"))

    op.drop_table("instruments")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_caller_id"))

    op.drop_table("credentials")
    op.drop_table("callers")
    op.drop_table("buyers")
    op.drop_table("ledger_accounts")
