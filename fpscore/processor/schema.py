"""The processor's tables: callers and credentials, sandbox buyers, instruments and tokens,
transactions, double-entry ledger accounts and entries, CallerReference records, the processor's signing
key, the record of every answered API request, and the Co-Branded UI's round trips.

Money columns are integer minor units (`*_cents`). Ledger entries are signed: debit positive, credit
negative; every transaction's entries sum to zero. `ledger_accounts.balance_cents` is the running
balance on the account's normal side (see `ledger.NORMAL_SIDE`) and always equals the signed sum of its
entries times that side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fpscore.db import NAMING, BigId, UtcDateTime
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH, DESCRIPTION_LENGTH, TRANSACTION_ID_LENGTH


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime}


class LedgerAccount(Base):
    """One account of the double-entry ledger, with its running balance."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('funding', 'prepaid', 'receivable', 'caller', 'fees', 'bad_debt')", name="kind"
        ),
        CheckConstraint("kind NOT IN ('prepaid', 'receivable') OR balance_cents >= 0", name="not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]


class Caller(Base):
    """A caller (merchant) account; in aggregated payments the caller is also the recipient."""

    __tablename__ = "callers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    ipn_url: Mapped[str | None] = mapped_column(String(2048))
    balance_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    bad_debt_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    created_at: Mapped[datetime]


class Credential(Base):
    """An AWSAccessKeyId and its secret for a caller (the secret is needed to check HMAC signatures)."""

    __tablename__ = "credentials"

    access_key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_access_key: Mapped[str] = mapped_column(String(128))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Buyer(Base):
    """A sandbox buyer: any e-mail address signs in as one; its cards are one funding account."""

    __tablename__ = "buyers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    funding_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    created_at: Mapped[datetime]


class Instrument(Base):
    """A prepaid or credit (postpaid) instrument between one buyer and one caller."""

    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("kind IN ('Prepaid', 'Credit')", name="kind"),
        CheckConstraint("status IN ('Active', 'Cancelled')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    funding_limit_cents: Mapped[int | None] = mapped_column(BigInteger)  # prepaid: most the balance may hold
    credit_limit_cents: Mapped[int | None] = mapped_column(BigInteger)  # credit: most debt outstanding
    purchase_limit_cents: Mapped[int | None] = mapped_column(BigInteger)  # credit: largest single Pay
    payment_method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="Active")
    valid_from: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Token(Base):
    """A token issued by a pipeline: funding and prepaid sender (prepaid), credit sender and settlement."""

    __tablename__ = "tokens"
    __table_args__ = (
        UniqueConstraint("caller_id", "caller_reference", name="uq_tokens_caller_reference"),
        CheckConstraint("role IN ('Funding', 'PrepaidSender', 'CreditSender', 'Settlement')", name="role"),
        CheckConstraint("status IN ('Active', 'Inactive')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    token_type: Mapped[str] = mapped_column(String(16))
    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
    caller_reference: Mapped[str] = mapped_column(String(CALLER_REFERENCE_LENGTH))
    friendly_name: Mapped[str | None] = mapped_column(String(128))
    payment_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)


# Literal, not bound, so that SQLite can prove a query that repeats it may use the partial index.
PENDING_WHERE = "status = 'Pending'"


class Transaction(Base):
    """One FPS transaction; its money movement is the ledger entries that reference it."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunded_range"),
        Index("ix_transactions_caller_created", "caller_id", "created_at", "id"),
        # GetAccountBalance's pending figures read the few Pending transactions, not every one of a caller
        Index(
            "ix_transactions_caller_pending",
            "caller_id",
            sqlite_where=text(PENDING_WHERE),
            postgresql_where=text(PENDING_WHERE),
        ),
    )

    id: Mapped[str] = mapped_column(String(TRANSACTION_ID_LENGTH), primary_key=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
    operation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    caller_reference: Mapped[str] = mapped_column(String(CALLER_REFERENCE_LENGTH))
    caller_description: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    sender_description: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    sender_token_id: Mapped[str | None] = mapped_column(ForeignKey("tokens.id"))
    instrument_id: Mapped[str | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    payment_method: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class LedgerEntry(Base):
    """One leg of a transaction: signed amount (debit positive) and the account's balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="not_zero"),
        Index("ix_ledger_entries_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)


class CallerReferenceRecord(Base):
    """A CallerReference seen for one caller and action, with the digest of the request it named."""

    __tablename__ = "caller_references"

    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    caller_reference: Mapped[str] = mapped_column(String(CALLER_REFERENCE_LENGTH), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    # Written before the transaction row, in the same database transaction: checked at commit.
    transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(index=True)


class SigningKeyRecord(Base):
    """The processor's RSA key and self-signed certificate for outbound signatures (return URLs, IPN).

    Kept here so every worker signs with the same key; `id` (`yymmdd` of creation) names the
    certificate's URL, `/certs/<id>/PKICert.pem`. The oldest row is the key in use.
    """

    __tablename__ = "signing_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_pem: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ApiRequest(Base):
    """One answered query-API request: what was asked, by whom, and exactly what was answered.

    Never holds a Signature or a secret. `request_id` is the RequestId as the response carried it.
    """

    __tablename__ = "api_requests"

    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str | None] = mapped_column(String(64))
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    access_key_id: Mapped[str | None] = mapped_column(String(128))
    caller_reference: Mapped[str | None] = mapped_column(String(CALLER_REFERENCE_LENGTH))
    http_status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[str | None] = mapped_column(String(TRANSACTION_ID_LENGTH))
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)


class IpnNotification(Base):
    """An Instant Payment Notification waiting for (or past) delivery: the outbox.

    Written in the same database transaction as the change it reports, so none is lost; delivered by
    `ipn.IpnDispatcher`, which signs `params` at sending time and retries with backoff until the merchant
    answers 200 or the delivery window closes.
    """

    __tablename__ = "ipn_notifications"
    __table_args__ = (Index("ix_ipn_notifications_due", "delivered_at", "gave_up_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
    url: Mapped[str] = mapped_column(String(2048))
    notification_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)  # TransactionId or TokenId
    params: Mapped[str] = mapped_column(Text)  # JSON object of the unsigned notification parameters
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]


class CbuiRoundTrip(Base):
    """A Co-Branded UI round trip, named by its caller and callerReferenceSender: when its start URL was
    first opened, and how it ended. It ends once: at the buyer's first Confirm or Cancel, in the setup's
    own transaction for a Confirm. Who ended it (the buyer, and a digest of the browser's session nonce)
    and the return it was answered with (`result`, JSON) are kept so that the very same step repeated,
    when its redirect was lost, is answered again."""

    __tablename__ = "cbui_round_trips"
    __table_args__ = (CheckConstraint("outcome IN ('Confirmed', 'Cancelled')", name="outcome"),)

    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), primary_key=True)
    caller_reference_sender: Mapped[str] = mapped_column(String(128), primary_key=True)
    opened_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"))  # who ended it, once signed in
    browser: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the ending browser's nonce, hex
    result: Mapped[str | None] = mapped_column(Text)  # the return's status and ids, a JSON object
