"""The storefront's reads and writes on the merchant database: the catalogue, customers' accounts, the
pack a prepaid round trip funds once, and what a customer's account page shows (instruments, purchases,
refunds, payments). The money itself moves only through fpscore.merchant's flows; sign-in counts are
fpscore.merchant.throttle's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from fpscore.db import read_only
from fpscore.merchant.movements import FUND_PREPAID, PAY, REFUND, SETTLE_DEBT
from fpscore.merchant.schema import (
    Customer,
    MerchantInstrument,
    ShopAccount,
    ShopPrepay,
    ShopProduct,
    TokenReference,
)

_customers = Customer.__table__
_accounts = ShopAccount.__table__
_products = ShopProduct.__table__
_prepays = ShopPrepay.__table__
_instruments = MerchantInstrument.__table__
_references = TokenReference.__table__
_purchases = PAY.table
_refunds = REFUND.table
_fundings = FUND_PREPAID.table
_settlements = SETTLE_DEBT.table
_MOVEMENTS = {table.name: table for table in (_purchases, _fundings, _settlements)}
SETTLED = "Paid what you owed"  # a settlement, as the account page lists it
HISTORY_ROWS = 50  # purchases, refunds and payments an account page lists (the latest)


def products(engine: Engine) -> list[Row[Any]]:
    with read_only(engine) as conn:
        return list(conn.execute(select(_products).order_by(_products.c.artist, _products.c.title)).all())


def product(engine: Engine, product_id: int) -> Row[Any] | None:
    with read_only(engine) as conn:
        return conn.execute(select(_products).where(_products.c.id == product_id)).one_or_none()


# -- customers' accounts ----------------------------------------------------------------------------------


def account_by_email(engine: Engine, email: str) -> Row[Any] | None:
    """The customer of `email` with their password hash, or None when they have no storefront account."""
    with read_only(engine) as conn:
        return conn.execute(
            select(_customers, _accounts.c.password_hash)
            .join(_accounts, _accounts.c.customer_id == _customers.c.id)
            .where(_customers.c.email == email)
        ).one_or_none()


def customer(engine: Engine, customer_id: int) -> Row[Any] | None:
    """A customer with a storefront account, with when their sessions last ended, or None."""
    with read_only(engine) as conn:
        return conn.execute(
            select(_customers, _accounts.c.sessions_valid_after)
            .join(_accounts, _accounts.c.customer_id == _customers.c.id)
            .where(_customers.c.id == customer_id)
        ).one_or_none()


def customer_exists(engine: Engine, email: str) -> bool:
    """Whether any channel (the storefront, the demo, another) made a customer with this address."""
    with read_only(engine) as conn:
        return conn.execute(select(_customers.c.id).where(_customers.c.email == email)).first() is not None


def add_customer(engine: Engine, email: str, name: str, password_hash: str, now: datetime) -> int | None:
    """A new customer with a storefront password, both rows in one transaction: their id, or None when a
    customer has this address already (then nothing is written)."""
    try:
        with engine.begin() as conn:
            customer_id = conn.execute(
                insert(_customers).values(email=email, name=name, created_at=now).returning(_customers.c.id)
            ).scalar_one()
            conn.execute(
                insert(_accounts).values(customer_id=customer_id, password_hash=password_hash, created_at=now)
            )
    except IntegrityError:
        return None
    return customer_id


def rehash(engine: Engine, customer_id: int, old_hash: str, new_hash: str) -> None:
    """Store `new_hash` (the same password at the current cost), unless the password changed meanwhile."""
    with engine.begin() as conn:
        conn.execute(
            update(_accounts)
            .where(_accounts.c.customer_id == customer_id, _accounts.c.password_hash == old_hash)
            .values(password_hash=new_hash)
        )


def end_sessions(engine: Engine, customer_id: int, now: datetime) -> None:
    """End every session of the customer issued at or before `now` (signing out)."""
    with engine.begin() as conn:
        conn.execute(
            update(_accounts).where(_accounts.c.customer_id == customer_id).values(sessions_valid_after=now)
        )


# -- prepaid packs --------------------------------------------------------------------------------------


def remember_pack(engine: Engine, caller_reference_sender: str, pack_cents: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(_prepays).values(caller_reference_sender=caller_reference_sender, pack_cents=pack_cents)
        )


def claim_pack(engine: Engine, token_reference_id: int, now: datetime) -> int | None:
    """The pack (cents) of a completed prepaid round trip, claimed for funding: the first caller gets it,
    every later one (a reloaded return page) None."""
    sender = (
        select(_references.c.caller_reference_sender)
        .where(_references.c.id == token_reference_id)
        .scalar_subquery()
    )
    with engine.begin() as conn:
        return conn.execute(
            update(_prepays)
            .where(_prepays.c.caller_reference_sender == sender, _prepays.c.funded_at.is_(None))
            .values(funded_at=now)
            .returning(_prepays.c.pack_cents)
        ).scalar()


# -- the account page -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountView:
    instruments: list[Row[Any]]  # newest first
    purchases: list[Row[Any]]
    refunds: list[Row[Any]]
    payments: list[Row[Any]]  # fundings and settlements: what the customer's card was charged
    cut: frozenset[str]  # the lists above with more than HISTORY_ROWS rows: only the latest are listed


def instruments(engine: Engine, customer_id: int) -> list[Row[Any]]:
    """The customer's instruments, newest first."""
    with read_only(engine) as conn:
        return list(
            conn.execute(
                select(_instruments)
                .where(_instruments.c.customer_id == customer_id)
                .order_by(_instruments.c.created_at.desc(), _instruments.c.id)
            ).all()
        )


def account_view(engine: Engine, customer_id: int) -> AccountView:
    owned = select(_instruments.c.id).where(_instruments.c.customer_id == customer_id)
    with read_only(engine, snapshot=True) as conn:
        found = conn.execute(
            select(_instruments)
            .where(_instruments.c.customer_id == customer_id)
            .order_by(_instruments.c.created_at.desc(), _instruments.c.id)
        ).all()
        bought = conn.execute(
            select(_purchases)
            .where(_purchases.c.instrument_id.in_(owned))
            .order_by(_purchases.c.id.desc())
            .limit(HISTORY_ROWS + 1)
        ).all()
        refunded = conn.execute(
            select(_refunds, _purchases.c.product)
            .join(_purchases, _purchases.c.id == _refunds.c.purchase_id)
            .where(_refunds.c.instrument_id.in_(owned), _refunds.c.status == "Success")
            .order_by(_refunds.c.id.desc())
            .limit(HISTORY_ROWS + 1)
        ).all()
        paid = []
        for table, what in ((_fundings, "Prepaid balance topped up"), (_settlements, SETTLED)):
            paid += conn.execute(
                select(table.c.id, table.c.amount_cents, table.c.currency, table.c.status, table.c.error_code,
                       table.c.created_at, table.c.instrument_id)
                .add_columns(literal(what).label("what"))
                .where(table.c.instrument_id.in_(owned))
                .order_by(table.c.id.desc())
                .limit(HISTORY_ROWS + 1)
            ).all()  # fmt: skip
    paid.sort(key=lambda row: row.created_at, reverse=True)
    lists = {"purchases": list(bought), "refunds": list(refunded), "payments": paid}
    cut = frozenset(name for name, rows in lists.items() if len(rows) > HISTORY_ROWS)
    return AccountView(list(found), *(rows[:HISTORY_ROWS] for rows in lists.values()), cut=cut)


def instrument(engine: Engine, instrument_id: str) -> Row[Any] | None:
    with read_only(engine) as conn:
        return conn.execute(select(_instruments).where(_instruments.c.id == instrument_id)).one_or_none()


def by_reference(engine: Engine, table_name: str, caller_reference: str) -> Row[Any] | None:
    """The purchase, funding or settlement recorded under a CallerReference (id, status, error_code)."""
    table = _MOVEMENTS[table_name]
    with read_only(engine) as conn:
        return conn.execute(
            select(table.c.id, table.c.status, table.c.error_code).where(
                table.c.caller_reference == caller_reference
            )
        ).one_or_none()


def movement_of(engine: Engine, table_name: str, row_id: int, customer_id: int) -> Row[Any] | None:
    """A purchase, funding or settlement of the customer's (with its instrument's kind, limits and
    balance), or None when it is not theirs."""
    table = _MOVEMENTS[table_name]
    with read_only(engine) as conn:
        return conn.execute(
            select(table, _instruments.c.kind, _instruments.c.balance_cents,
                   _instruments.c.credit_limit_cents, _instruments.c.purchase_limit_cents)
            .join(_instruments, _instruments.c.id == table.c.instrument_id)
            .where(table.c.id == row_id, _instruments.c.customer_id == customer_id)
        ).one_or_none()  # fmt: skip
