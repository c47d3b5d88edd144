"""Merchant records written directly, with the times a test needs (as bench/large.py writes a large book)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from fpscore.fees import DEFAULT_FEE_SCHEDULE
from fpscore.merchant.schema import Customer, MerchantInstrument, Order, Purchase, Refund
from fpscore.money import Amount

_references = itertools.count(1)


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


class Book:
    """Writes merchant rows directly, with the times a scenario needs."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def customer(self, email: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                insert(Customer.__table__)
                .values(email=email, name=email.split("@")[0], created_at=at("2024-01-01"))
                .returning(Customer.__table__.c.id)
            ).scalar_one()

    def instrument(
        self, instrument_id: str, email: str, kind: str, credit_limit_cents: int | None = None
    ) -> str:
        customer_id = self.customer(email)
        with self.engine.begin() as conn:
            conn.execute(
                insert(MerchantInstrument.__table__).values(
                    id=instrument_id, customer_id=customer_id, kind=kind, sender_token_id=f"S{instrument_id}",
                    funding_token_id=f"F{instrument_id}" if kind == "Prepaid" else None,
                    settlement_token_id=f"T{instrument_id}" if kind == "Postpaid" else None,
                    credit_limit_cents=credit_limit_cents, currency="USD", status="Active", balance_cents=0,
                    created_at=at("2024-01-01"),
                )
            )  # fmt: skip
        return instrument_id

    def _movement(self, when: datetime, amount_cents: int, status: str) -> dict[str, object]:
        return {
            "amount_cents": amount_cents, "currency": "USD", "caller_reference": f"ref-{next(_references)}",
            "transaction_id": None, "status": status, "requested_by": "test", "created_at": when,
        }  # fmt: skip

    def purchase(
        self, instrument_id: str, when: datetime, price: str, refunded: str = "0", status: str = "Success"
    ) -> int:
        amount = Amount.parse(price)
        with self.engine.begin() as conn:
            order_id = conn.execute(
                insert(Order.__table__)
                .values(
                    customer_id=1, total_cents=amount.cents, currency="USD", status="Paid", created_at=when
                )
                .returning(Order.__table__.c.id)
            ).scalar_one()
            return conn.execute(
                insert(Purchase.__table__).values(
                    **self._movement(when, amount.cents, status), order_id=order_id,
                    instrument_id=instrument_id, product="Song",
                    refunded_cents=Amount.parse(refunded, allow_zero=True).cents,
                    fee_alone_cents=DEFAULT_FEE_SCHEDULE.fee(amount).cents,
                ).returning(Purchase.__table__.c.id)
            ).scalar_one()  # fmt: skip

    def refund(self, purchase_id: int, instrument_id: str, when: datetime, amount_cents: int) -> int:
        """A Requested refund of part of a purchase."""
        with self.engine.begin() as conn:
            return conn.execute(
                insert(Refund.__table__).values(
                    **self._movement(when, amount_cents, "Requested"), purchase_id=purchase_id,
                    instrument_id=instrument_id, reason="test",
                ).returning(Refund.__table__.c.id)
            ).scalar_one()  # fmt: skip

    def charge(
        self, model: type, instrument_id: str, when: datetime, amount: str, status: str = "Success"
    ) -> int:
        """A funding or settlement; its fee."""
        charged = Amount.parse(amount)
        fee = DEFAULT_FEE_SCHEDULE.fee(charged).cents
        with self.engine.begin() as conn:
            conn.execute(
                insert(model.__table__).values(  # type: ignore[attr-defined]
                    **self._movement(when, charged.cents, status), instrument_id=instrument_id, fee_cents=fee
                )
            )
        return fee
