"""The merchant's tables: customers, orders, token references, instruments as the merchant knows them,
purchases, fundings, settlements, write-offs and refunds, the daily fee rollup, staff and their failed
sign-ins, and `api_calls` — one row per attempt of every FPS call, so any purchase can be followed from its
order to its CallerReference, RequestId and TransactionId.

Money columns are integer minor units (`*_cents`). The merchant never reads the processor's tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from fpscore.db import NAMING, BigId, UtcDateTime
from fpscore.merchant.reasons import CODE_LENGTH, REFUND_CODES, WRITE_OFF_CODES, sql_in
from fpscore.merchant.roles import ROLES
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH, TRANSACTION_ID_LENGTH


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime}


def _code_point_ordered(length: int) -> Any:
    """Text of at most `length` characters ordered by code point on both backends (SQLite's own order;
    PostgreSQL's under COLLATE "C"), so that the search box's prefixes are ranges of its indexes
    (fpscore.merchant.queries.search)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Staff(Base):
    """A back-office user. Passwords are stored only as a slow KDF hash."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None]
    credentials_changed_at: Mapped[datetime | None]  # sessions signed in before it have ended
    created_at: Mapped[datetime]


# Who a failed attempt is counted for: staff signing in to the back office, customers signing in to the
# storefront, and the storefront's sign-ups (each attempt counted, to bound address probing and hashing).
SIGN_IN_KINDS = ("staff", "customer", "sign_up")


class SignInFailures(Base):
    """Failed sign-ins of one kind (SIGN_IN_KINDS) counted in one scope: everyone ('all'), a client address
    ('client'), an account ('account': a user name or an e-mail address) or an account from one address
    ('account_client'); '' stands for what the scope leaves out. Kept in the database so that every process
    counts the same failures (fpscore.merchant.throttle takes a slot here before a password is checked)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        CheckConstraint(f"kind IN {SIGN_IN_KINDS}", name="kind"),
        CheckConstraint("scope IN ('all', 'client', 'account', 'account_client')", name="scope"),
    )

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(254), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(index=True)  # forgotten then; each failure moves it on


# Why a staff session ended: sign-out, idle too long, account disabled, password reset, maximum age reached.
SESSION_END_REASONS = ("sign_out", "idle", "disabled", "password_reset", "expired")


class StaffSession(Base):
    """A signed-in browser (all its tabs): named by a cookie that carries the session id, kept here only as
    its SHA-256. It ends at sign-out, after the idle time, at its maximum age, or when its account is
    disabled or its password reset (`end_reason`); fpscore.merchant.sessions reads and ends it."""

    __tablename__ = "staff_sessions"
    __table_args__ = (CheckConstraint(f"end_reason IN {SESSION_END_REASONS}", name="end_reason"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    credentials_changed_at: Mapped[datetime | None]  # the account's, as when the password was checked
    client: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(16))


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_name_folded", func.lower(text("name"))),)  # the search by name

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(_code_point_ordered(254), unique=True)
    name: Mapped[str] = mapped_column(_code_point_ordered(128))
    created_at: Mapped[datetime]


class Order(Base):
    """The seed's Order: what a customer bought in one checkout."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('Open', 'Paid', 'PartlyRefunded', 'Refunded', 'Failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class TokenReference(Base):
    """One CBUI round trip: the references sent, the status returned, the instrument it produced."""

    __tablename__ = "token_references"
    __table_args__ = (
        CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name="kind"),
        CheckConstraint("status IN ('Started', 'Completed', 'Abandoned', 'Failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(8))
    caller_reference_sender: Mapped[str] = mapped_column(String(CALLER_REFERENCE_LENGTH), unique=True)
    caller_reference_funding: Mapped[str | None] = mapped_column(String(CALLER_REFERENCE_LENGTH), unique=True)
    caller_reference_settlement: Mapped[str | None] = mapped_column(
        String(CALLER_REFERENCE_LENGTH), unique=True
    )
    funding_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    credit_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    purchase_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    cbui_status: Mapped[str | None] = mapped_column(String(4))
    error_message: Mapped[str | None] = mapped_column(Text)
    instrument_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class MerchantInstrument(Base):
    """A prepaid or postpaid instrument as the merchant knows it, with the last balance it was told."""

    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name="kind"),
        CheckConstraint("status IN ('Active', 'Cancelled')", name="status"),
        Index("ix_instruments_kind_status", "kind", "status", "id"),
    )

    id: Mapped[str] = mapped_column(_code_point_ordered(64), primary_key=True)  # the processor's id
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    sender_token_id: Mapped[str] = mapped_column(String(64))
    funding_token_id: Mapped[str | None] = mapped_column(String(64))
    settlement_token_id: Mapped[str | None] = mapped_column(String(64))
    funding_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    credit_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    purchase_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # prepaid balance or debt
    balance_seen_at: Mapped[datetime | None]
    debt_since: Mapped[datetime | None]  # when the oldest unsettled debt arose (settlement policy)
    created_at: Mapped[datetime]


# Literal, not bound, so that SQLite can prove a query that repeats it may use the partial index.
IN_FLIGHT_WHERE = "status IN ('Requested', 'Pending')"


class _Movement:
    """Columns every money movement the merchant asked for shares, and a partial index of the few left in
    flight (recovery and the Health page find them without reading every movement)."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        where = text(IN_FLIGHT_WHERE)
        return (
            Index(
                f"ix_{cls.__tablename__}_in_flight",
                "status",
                "id",
                sqlite_where=where,
                postgresql_where=where,
            ),
        )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    caller_reference: Mapped[str] = mapped_column(String(CALLER_REFERENCE_LENGTH), unique=True)
    transaction_id: Mapped[str | None] = mapped_column(String(TRANSACTION_ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(16))  # Requested, Pending, Success, Failure
    error_code: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))  # staff username or job name
    created_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]


class Purchase(_Movement, Base):
    """One order line paid with Pay against an instrument."""

    __tablename__ = "purchases"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    product: Mapped[str] = mapped_column(String(128))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_alone_cents: Mapped[int] = mapped_column(BigInteger)  # its fee had it been charged alone


class Funding(_Movement, Base):
    __tablename__ = "fundings"

    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class Settlement(_Movement, Base):
    __tablename__ = "settlements"

    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class WriteOff(_Movement, Base):
    __tablename__ = "write_offs"

    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)  # in words (reasons.Reason.text), as sent to the processor
    reason_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH),
        CheckConstraint(f"reason_code IN {sql_in(WRITE_OFF_CODES)}", name="reason_code"),
        server_default="other",  # rows from before reason codes: their reason is the note
    )
    disputed_purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)


class Refund(_Movement, Base):
    __tablename__ = "refunds"

    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)  # the disputed one
    instrument_id: Mapped[str] = mapped_column(ForeignKey("instruments.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)  # in words (reasons.Reason.text), as sent to the processor
    reason_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH),
        CheckConstraint(f"reason_code IN {sql_in(REFUND_CODES)}", name="reason_code"),
        server_default="other",  # rows from before reason codes: their reason is the note
    )


class FeeDay(Base):
    """The fees of one UTC day and kind of instrument, summed (fpscore.merchant.fee_days keeps them), in a
    few shards so that concurrent purchases do not all wait for one row."""

    __tablename__ = "fee_days"
    __table_args__ = (CheckConstraint("kind IN ('Prepaid', 'Postpaid')", name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchases: Mapped[int] = mapped_column(BigInteger)
    purchase_cents: Mapped[int] = mapped_column(BigInteger)  # successful purchases, before refunds
    refunded_cents: Mapped[int] = mapped_column(BigInteger)  # refunds of that day's purchases
    fees_alone_cents: Mapped[int] = mapped_column(BigInteger)  # what they would have cost charged alone
    fees_paid_cents: Mapped[int] = mapped_column(BigInteger)  # fees of the day's fundings and settlements


class ApiCall(Base):
    """One attempt of one FPS call: what was asked (no credentials, no signature) and what came back."""

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action: Mapped[str] = mapped_column(String(48))
    caller_reference: Mapped[str | None] = mapped_column(String(CALLER_REFERENCE_LENGTH), index=True)
    request_id: Mapped[str | None] = mapped_column(_code_point_ordered(64), index=True)
    transaction_id: Mapped[str | None] = mapped_column(String(TRANSACTION_ID_LENGTH), index=True)
    instrument_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    fps_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    request_params: Mapped[str] = mapped_column(Text)  # JSON, credentials and signature removed
    response_body: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """Something a staff member did or was refused, beyond the FPS calls themselves."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(16))  # Done, Refused, Failed
    subject: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ShopProduct(Base):
    """A digital item the reference storefront (fpscore.shop) sells; seeded by migration 0009."""

    __tablename__ = "shop_products"
    __table_args__ = (CheckConstraint("price_cents > 0", name="price"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(128))
    artist: Mapped[str] = mapped_column(String(128))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class ShopAccount(Base):
    """A customer's storefront password, as a scrypt hash (fpscore.merchant.staff's)."""

    __tablename__ = "shop_accounts"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    sessions_valid_after: Mapped[datetime | None]  # sessions signed in at or before it have ended
    created_at: Mapped[datetime]


class ShopPrepay(Base):
    """The pack a customer chose when a prepaid round trip started: funded once, when it comes back."""

    __tablename__ = "shop_prepays"

    caller_reference_sender: Mapped[str] = mapped_column(
        String(CALLER_REFERENCE_LENGTH),
        ForeignKey("token_references.caller_reference_sender"),
        primary_key=True,
    )
    pack_cents: Mapped[int] = mapped_column(BigInteger)
    funded_at: Mapped[datetime | None]
