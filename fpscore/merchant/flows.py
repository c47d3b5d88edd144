"""The merchant's flows, shared by the dashboard, the CLI and the demo: fund, purchase, refund, refresh a
balance, settle, write off, cancel a token. Each takes the Actor who causes it and is refused (and the
refusal recorded) unless the actor's role allows it.

Every money movement follows one shape: the row is written first with a fresh CallerReference (or one the
caller chose, which makes asking again answer the movement already recorded under it) and status
Requested (so a crash leaves a record of what was asked), then the call is made (retries reuse the
reference), then the row takes the TransactionId and status, or the FPS error code. The request is built
from the row and its instrument's token ids, which never change (its kind's `request` in
`fpscore.merchant.movements`), so a movement that got no
answer at all (the process died, the processor was unreachable) stays Requested until
`fpscore.merchant.recovery` resends it, unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from fpscore.errors import AuthError, DuplicateRequest, FpsError, InvalidParams, ServiceError
from fpscore.merchant import fee_days, movements, reasons, roles
from fpscore.merchant.connect import Merchant
from fpscore.merchant.movements import FUND_PREPAID, PAY, REFUND, SETTLE_DEBT, WRITE_OFF_DEBT
from fpscore.merchant.reasons import REFUND_CODES, WRITE_OFF_CODES, ReasonCode
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import IN_FLIGHT_WHERE, Customer, MerchantInstrument, Order
from fpscore.money import Amount

_customers = Customer.__table__
_orders = Order.__table__
_instruments = MerchantInstrument.__table__
_purchases = PAY.table
_fundings = FUND_PREPAID.table
_settlements = SETTLE_DEBT.table
_write_offs = WRITE_OFF_DEBT.table
_refunds = REFUND.table
MAX_EARLIER = 20  # earlier movements in flight a flow looks at before it refuses to add another


class FlowRefused(Exception):
    """The merchant's own records refuse the request before anything is sent (e.g. no such purchase)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a money flow did: its row, the CallerReference, the processor's answer, and the amount moved
    with the fee the merchant paid on it (fundings and settlements)."""

    table: str
    row_id: int
    caller_reference: str
    transaction_id: str
    status: str
    request_id: str
    amount: Amount
    fee: Amount | None


def new_reference(kind: str) -> str:
    """A CallerReference that cannot collide (unlike the chapter's user name + date and time)."""
    return f"{kind}-{uuid.uuid4().hex}"


def require(merchant: Merchant, actor: Actor, permission: Permission, subject: str | None = None) -> None:
    """Refuse, and record the refusal, unless `actor` may do `permission` (`roles.require` on the
    merchant's audit log)."""
    roles.require(merchant.audit, actor, permission, subject)


def instrument(merchant: Merchant, instrument_id: str) -> Any:
    with merchant.engine.connect() as conn:
        row = conn.execute(select(_instruments).where(_instruments.c.id == instrument_id)).one_or_none()
    if row is None:
        raise FlowRefused(f"no instrument {instrument_id[:64]!r} in the merchant's records")
    return row


def ensure_customer(merchant: Merchant, email: str, name: str | None = None) -> int:
    email = email.strip().lower()
    with merchant.engine.begin() as conn:
        found = conn.execute(select(_customers.c.id).where(_customers.c.email == email)).scalar()
        if found is not None:
            return found
        return conn.execute(
            insert(_customers)
            .values(email=email, name=name or email.split("@")[0], created_at=merchant.clock())
            .returning(_customers.c.id)
        ).scalar_one()


def _adjust_balance(conn: Connection, instrument_id: str, delta_cents: int, now: datetime) -> None:
    """Move the merchant's book balance (prepaid balance or debt) and keep `debt_since` for postpaid."""
    row = conn.execute(
        update(_instruments)
        .where(_instruments.c.id == instrument_id)
        .values(balance_cents=_instruments.c.balance_cents + delta_cents)
        .returning(_instruments.c.kind, _instruments.c.balance_cents, _instruments.c.debt_since)
    ).one()
    if row.kind == "Postpaid":
        if row.balance_cents == 0:
            since = None
        else:
            since = row.debt_since or now
        conn.execute(update(_instruments).where(_instruments.c.id == instrument_id).values(debt_since=since))


def _move(
    merchant: Merchant,
    actor: Actor,
    table: Table,
    values: dict[str, Any],
    found: Any,
    chosen: str | None = None,
) -> Outcome:
    """Write the movement row, send it, record the answer; FpsError propagates after being recorded. Under
    the CallerReference the caller `chosen` when another request wrote its row first: that movement."""
    reference = chosen or new_reference(movements.of(table).prefix)
    try:
        with merchant.engine.begin() as conn:
            row_id = _requested(conn, actor, table, reference, values, merchant.clock())
    except IntegrityError as error:
        return _written_first(merchant, table, chosen, found, values, error)
    return _send(merchant, actor, table, row_id, {**values, "caller_reference": reference}, found)


SAME_REQUEST = ("amount_cents", "currency", "product")  # what a repeat must ask again, where given


def _repeated(
    merchant: Merchant, table: Table, chosen: str | None, found: Any, asked: dict[str, Any]
) -> Outcome | None:
    """The movement recorded under the CallerReference the caller `chosen` (a request made again, e.g. a
    form posted twice), as it stands; None when there is none. It answers the repeat instead of moving the
    money twice; request_id is empty (nothing was sent) and transaction_id too while it has none. A
    reference that names another instrument, amount or product is refused: that is not a repeat."""
    if chosen is None:
        return None
    with merchant.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.caller_reference == chosen)).one_or_none()
    if row is None:
        return None
    if row.instrument_id != found.id:
        raise FlowRefused("this CallerReference names a movement on another instrument")
    if any(row._mapping[name] != value for name, value in asked.items() if name in SAME_REQUEST):
        raise FlowRefused("this CallerReference names another movement (its amount or product differs)")
    kind = movements.of(table)
    return Outcome(
        table.name, row.id, chosen, row.transaction_id or "", row.status, "",
        Amount(row.amount_cents, row.currency),
        Amount(row._mapping[kind.fee], row.currency) if kind.fee else None,
    )  # fmt: skip


def _written_first(
    merchant: Merchant,
    table: Table,
    chosen: str | None,
    found: Any,
    asked: dict[str, Any],
    error: IntegrityError,
) -> Outcome:
    """After writing a movement row broke a unique constraint (`error`): the concurrent repeat under the
    CallerReference the caller `chosen` that wrote its row first; `error` when that is not what happened."""
    repeated = _repeated(merchant, table, chosen, found, asked)
    if repeated is None:
        raise error
    return repeated


def _requested(
    conn: Connection, actor: Actor, table: Table, reference: str, values: dict[str, Any], now: datetime
) -> int:
    """Insert a movement row with status Requested at `now`; its id."""
    return conn.execute(
        insert(table)
        .values(caller_reference=reference, status="Requested", requested_by=actor.name, created_at=now,
                **values)
        .returning(table.c.id)
    ).scalar_one()  # fmt: skip


def unanswered(error: FpsError, resending: bool = False) -> bool:
    """Whether `error` leaves a movement's fate unknown: no answer came (ServiceError), its reference names
    another request (DuplicateRequest), or, for a resend, the processor did not get as far as looking the
    reference up (AuthError: an earlier send may still have been made). Any other error is the processor
    refusing the request: nothing moved."""
    return isinstance(error, ServiceError | DuplicateRequest) or (resending and isinstance(error, AuthError))


def cut_off(merchant: Merchant, table: Table) -> ColumnElement[bool]:
    """Requested movements no flow is waiting on any more: the flow gave up on the answer (error_code is
    set), or more time passed than the client's every attempt could take (the process died)."""
    given_up_before = merchant.clock() - merchant.client.retry_budget()
    return and_(
        text(IN_FLIGHT_WHERE),
        table.c.status == "Requested",
        or_(table.c.error_code.is_not(None), table.c.created_at < given_up_before),
    )


def resend(merchant: Merchant, actor: Actor, table: Table, row: Any, found: Any) -> Outcome:
    """Send a Requested movement's request again, unchanged, and record the answer (recovery)."""
    return _send(merchant, actor, table, row.id, row._mapping, found, resending=True)


def _clear_the_way(
    merchant: Merchant, actor: Actor, table: Table, found: Any, product: str | None = None
) -> None:
    """Refuse a new movement while an earlier one of the same kind on the same instrument (for a purchase:
    of the same product) has no answer recorded: asked again under a new CallerReference, it could be made
    twice. An earlier one no flow waits on any more is resent first, so the refusal says how it ended."""
    query = select(table, cut_off(merchant, table).label("cut_off")).where(
        text(IN_FLIGHT_WHERE), table.c.status == "Requested", table.c.instrument_id == found.id
    )
    if product is not None:
        query = query.where(table.c.product == product)
    with merchant.engine.connect() as conn:
        earlier = conn.execute(query.order_by(table.c.id).limit(MAX_EARLIER)).all()
    if not earlier:
        return
    operation = movements.of(table).operation
    told = []
    for row in earlier:
        what = f"{operation} of {Amount(row.amount_cents, row.currency)}"
        if not row.cut_off:
            raise FlowRefused(
                f"an earlier {what} on this instrument is still waiting for the processor's answer; nothing "
                "new was sent. Try again in a few minutes."
            )
        try:
            outcome = resend(merchant, actor, table, row, found)
            told.append(f"{what}: {outcome.status} ({outcome.transaction_id})")
        except FpsError as error:
            if unanswered(error, resending=True):
                raise FlowRefused(
                    f"an earlier {what} on this instrument still has no answer from the processor "
                    f"({error.code}); nothing new was sent. Try again later."
                ) from None
            told.append(f"{what}: refused ({error.code})")
    raise FlowRefused(
        f"an earlier request on this instrument had no answer recorded, so it was sent again with its own "
        f"CallerReference: {'; '.join(told)}. Nothing new was sent: ask again if you meant another one."
    )


def _send(
    merchant: Merchant,
    actor: Actor,
    table: Table,
    row_id: int,
    movement: Mapping[str, Any],
    found: Any,
    resending: bool = False,
) -> Outcome:
    """Send a Requested movement and record the answer. An error that leaves its fate unknown
    (`unanswered`) leaves it Requested, marked with the error's code, for recovery and reconciliation;
    any other error is the processor refusing it: nothing moved."""
    reference = movement["caller_reference"]
    try:
        reply = movements.of(table).request(merchant, actor.name, movement, found)
    except FpsError as error:
        if unanswered(error, resending):
            with merchant.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == row_id, table.c.status == "Requested")
                    .values(error_code=error.code)
                )
        else:
            with merchant.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == row_id, table.c.status == "Requested")
                    .values(status="Failure", error_code=error.code, completed_at=merchant.clock())
                )
                if table is _purchases:
                    _order_failed(conn, row_id)
        merchant.audit.record_event(
            actor.name, table.name, "Failed", reference, _event_detail(table, movement, str(error))
        )
        raise
    with merchant.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(transaction_id=reply.transaction_id))
        record_status(conn, table, row_id, reply.status, merchant.clock())
    merchant.audit.record_event(
        actor.name, table.name, "Done", reference,
        _event_detail(table, movement, f"TransactionId {reply.transaction_id}"),
    )  # fmt: skip
    kind, currency = movements.of(table), movement["currency"]
    return Outcome(
        table.name, row_id, reference, reply.transaction_id, reply.status, reply.request_id,
        Amount(movement["amount_cents"], currency),
        Amount(movement[kind.fee], currency) if kind.fee else None,
    )  # fmt: skip


def _event_detail(table: Table, movement: Mapping[str, Any], outcome: str) -> str:
    """What the staff event of a movement says: its amount, what it was for (the product, or the reason
    and the purchase it disputes), then `outcome` (the TransactionId, or the error)."""
    kind = movements.of(table)
    parts = [f"{movement['currency']} {Amount(movement['amount_cents'], movement['currency'])}"]
    if kind.detail:
        parts.append(str(movement[kind.detail]))
    disputed = movement.get("disputed_purchase_id") or movement.get("purchase_id")
    if disputed:
        parts.append(f"purchase {disputed}")
    return " · ".join([*parts, outcome])


def record_status(conn: Connection, table: Table, row_id: int, status: str, now: datetime) -> None:
    """Set a movement's status, learnt at `now`; the first time it becomes Success, its effects on the
    merchant's books follow (balances, orders, refunded amounts, the daily fee rollup). Idempotent: the
    same status twice changes nothing."""
    previous = conn.execute(select(table.c.status).where(table.c.id == row_id).with_for_update()).scalar_one()
    if previous == status or previous == "Success":
        return
    done = now if status != "Pending" else None
    conn.execute(
        update(table).where(table.c.id == row_id).values(status=status, error_code=None, completed_at=done)
    )
    if status == "Success":
        _apply_success(conn, table, row_id, now)
    elif status == "Failure" and table is _purchases:
        _order_failed(conn, row_id)


def _order_failed(conn: Connection, purchase_id: int) -> None:
    """The order follows its payment: an Open order whose purchase failed has failed (whenever that was
    learnt: the answer, a status asked later, an IPN, reconciliation)."""
    order_id = select(_purchases.c.order_id).where(_purchases.c.id == purchase_id).scalar_subquery()
    conn.execute(
        update(_orders).where(_orders.c.id == order_id, _orders.c.status == "Open").values(status="Failed")
    )


def _apply_success(conn: Connection, table: Table, row_id: int, now: datetime) -> None:
    row = conn.execute(select(table).where(table.c.id == row_id)).one()
    kind = conn.execute(
        select(_instruments.c.kind).where(_instruments.c.id == row.instrument_id)
    ).scalar_one()
    _adjust_balance(conn, row.instrument_id, movements.of(table).sign(kind) * row.amount_cents, now)
    if table is _purchases:
        conn.execute(update(_orders).where(_orders.c.id == row.order_id).values(status="Paid"))
    elif table is _refunds:
        bought = conn.execute(
            update(_purchases)
            .where(_purchases.c.id == row.purchase_id)
            .values(refunded_cents=_purchases.c.refunded_cents + row.amount_cents)
            .returning(_purchases.c.refunded_cents, _purchases.c.amount_cents, _purchases.c.order_id)
        ).one()
        status = "Refunded" if bought.refunded_cents == bought.amount_cents else "PartlyRefunded"
        conn.execute(update(_orders).where(_orders.c.id == bought.order_id).values(status=status))
    fee_days.record_success(conn, table, row, kind)


# -- flows ---------------------------------------------------------------------------------------------


def fund(
    merchant: Merchant,
    actor: Actor,
    instrument_id: str,
    amount: Amount,
    *,
    caller_reference: str | None = None,
) -> Outcome:
    """FundPrepaid: one aggregated card charge that raises the prepaid balance by `amount`. A
    `caller_reference` the caller chose (unique to what it means to do once) makes the request
    idempotent: asked again, it answers the funding recorded under it (`_repeated`)."""
    require(merchant, actor, Permission.FUND, instrument_id)
    found = instrument(merchant, instrument_id)
    if found.kind != "Prepaid" or not found.funding_token_id:
        raise FlowRefused("only prepaid instruments are funded")
    asked = {"amount_cents": amount.cents, "currency": amount.currency}
    if (repeated := _repeated(merchant, _fundings, caller_reference, found, asked)) is not None:
        return repeated
    _clear_the_way(merchant, actor, _fundings, found)
    fee = merchant.fee_schedule.fee(amount)

    return _move(
        merchant, actor, _fundings,
        {"instrument_id": instrument_id, "amount_cents": amount.cents, "currency": amount.currency,
         "fee_cents": fee.cents},
        found, caller_reference,
    )  # fmt: skip


def purchase(
    merchant: Merchant,
    actor: Actor,
    instrument_id: str,
    product: str,
    amount: Amount,
    order_id: int | None = None,
    *,
    caller_reference: str | None = None,
) -> Outcome:
    """Pay for one product against a prepaid balance or a credit line, as a line of an order. A
    `caller_reference` the caller chose makes it idempotent, as for `fund`."""
    require(merchant, actor, Permission.PURCHASE, instrument_id)
    found = instrument(merchant, instrument_id)
    if found.status != "Active":
        raise FlowRefused("the instrument's token has been cancelled")
    asked = {"product": product[:128], "amount_cents": amount.cents, "currency": amount.currency}
    if (repeated := _repeated(merchant, _purchases, caller_reference, found, asked)) is not None:
        return repeated
    _clear_the_way(merchant, actor, _purchases, found, product[:128])
    reference = caller_reference or new_reference(PAY.prefix)
    try:
        with merchant.engine.begin() as conn:  # the order and its purchase row, or neither
            if order_id is None:
                order_id = conn.execute(
                    insert(_orders)
                    .values(customer_id=found.customer_id, total_cents=amount.cents, currency=amount.currency,
                            status="Open", created_at=merchant.clock())
                    .returning(_orders.c.id)
                ).scalar_one()  # fmt: skip
            values = {"order_id": order_id, "instrument_id": instrument_id, "product": product[:128],
                      "amount_cents": amount.cents, "currency": amount.currency, "refunded_cents": 0,
                      "fee_alone_cents": merchant.fee_schedule.fee(amount).cents}  # fmt: skip
            row_id = _requested(conn, actor, _purchases, reference, values, merchant.clock())
    except IntegrityError as error:
        return _written_first(merchant, _purchases, caller_reference, found, asked, error)
    return _send(merchant, actor, _purchases, row_id, {**values, "caller_reference": reference}, found)


def refund_purchase(
    merchant: Merchant,
    actor: Actor,
    purchase_id: int,
    note: str = "",
    amount: Amount | None = None,
    *,
    code: str = ReasonCode.OTHER,
) -> Outcome:
    """Refund all (amount None: what remains) or part of a purchase: back to the balance, or off the debt.
    Why: a reason code of `reasons.REFUND_CODES` and a note ("other", the default, needs one); the
    purchase refunded is the one disputed."""
    require(merchant, actor, Permission.REFUND, f"purchase {purchase_id}")
    why = reasons.reason(code, note, REFUND_CODES)
    with merchant.engine.connect() as conn:
        bought = conn.execute(select(_purchases).where(_purchases.c.id == purchase_id)).one_or_none()
    if bought is None or bought.status != "Success" or bought.transaction_id is None:
        raise FlowRefused(f"purchase {purchase_id} is not a completed purchase")
    found = instrument(merchant, bought.instrument_id)
    _clear_the_way(merchant, actor, _refunds, found)
    remaining = bought.amount_cents - bought.refunded_cents
    refund_amount = amount if amount is not None else Amount(remaining, bought.currency)
    if refund_amount.cents <= 0 or refund_amount.cents > remaining:
        raise FlowRefused(f"at most {Amount(remaining, bought.currency)} of this purchase can be refunded")
    if found.kind == "Postpaid" and refund_amount.cents > found.balance_cents:
        # the processor refuses too (RefundAmountExceeded): a refund takes debt off, never below zero
        raise FlowRefused(
            f"the credit line owes {Amount(max(found.balance_cents, 0), bought.currency)}: the rest of this "
            "purchase was settled or written off already, so it cannot be refunded through FPS"
        )

    return _move(
        merchant, actor, _refunds,
        {"purchase_id": purchase_id, "instrument_id": bought.instrument_id,
         "amount_cents": refund_amount.cents, "currency": refund_amount.currency, "reason": why.text,
         "reason_code": why.code.value},
        found,
    )  # fmt: skip


def settle(
    merchant: Merchant,
    actor: Actor,
    instrument_id: str,
    amount: Amount | None = None,
    *,
    caller_reference: str | None = None,
) -> Outcome:
    """SettleDebt: charge the customer once for the debt (all of it when `amount` is None). A
    `caller_reference` the caller chose makes it idempotent, as for `fund`."""
    require(merchant, actor, Permission.SETTLE, instrument_id)
    found = instrument(merchant, instrument_id)
    if found.kind != "Postpaid" or not found.settlement_token_id:
        raise FlowRefused("only postpaid instruments are settled")
    asked = {} if amount is None else {"amount_cents": amount.cents, "currency": amount.currency}
    if (repeated := _repeated(merchant, _settlements, caller_reference, found, asked)) is not None:
        return repeated
    _clear_the_way(merchant, actor, _settlements, found)
    debt = refresh_balance(merchant, actor, instrument_id)
    amount = amount if amount is not None else debt
    if amount.cents <= 0:
        raise FlowRefused("there is no debt to settle")
    if amount > debt:
        raise FlowRefused(f"the debt is {debt}; {amount} cannot be settled")
    fee = merchant.fee_schedule.fee(amount)

    return _move(
        merchant, actor, _settlements,
        {"instrument_id": instrument_id, "amount_cents": amount.cents, "currency": amount.currency,
         "fee_cents": fee.cents},
        found, caller_reference,
    )  # fmt: skip


def write_off(
    merchant: Merchant,
    actor: Actor,
    instrument_id: str,
    amount: Amount,
    note: str = "",
    *,
    code: str = ReasonCode.OTHER,
    disputed_purchase_id: int | None = None,
) -> Outcome:
    """WriteOffDebt: forgive part or all of a debt. Cannot be undone. Why: a reason code and a note
    ("other", the default, needs one), and optionally the purchase of this instrument it disputes."""
    require(merchant, actor, Permission.WRITE_OFF, instrument_id)
    why = reasons.reason(code, note, WRITE_OFF_CODES)
    found = instrument(merchant, instrument_id)
    if found.kind != "Postpaid":
        raise FlowRefused("only postpaid debt can be written off")
    if disputed_purchase_id is not None:
        _check_disputed(merchant, found, disputed_purchase_id)
    _clear_the_way(merchant, actor, _write_offs, found)

    return _move(
        merchant, actor, _write_offs,
        {"instrument_id": instrument_id, "amount_cents": amount.cents, "currency": amount.currency,
         "reason": why.text, "reason_code": why.code.value, "disputed_purchase_id": disputed_purchase_id},
        found,
    )  # fmt: skip


def _check_disputed(merchant: Merchant, found: Any, purchase_id: int) -> None:
    """Refuse a disputed purchase that is not a completed purchase of this instrument, or that was refunded
    in full (none of it is debt any more). One already disputed by another write-off may be named again:
    the debt it left may be written off in parts."""
    with merchant.engine.connect() as conn:
        bought = conn.execute(
            select(
                _purchases.c.instrument_id,
                _purchases.c.status,
                _purchases.c.amount_cents,
                _purchases.c.refunded_cents,
            ).where(_purchases.c.id == purchase_id)
        ).one_or_none()
    if bought is None or bought.instrument_id != found.id or bought.status != "Success":
        raise FlowRefused(f"purchase {purchase_id} is not a completed purchase of this instrument")
    if bought.refunded_cents >= bought.amount_cents:
        raise FlowRefused(
            f"purchase {purchase_id} was refunded in full: none of it is debt, so it cannot be disputed"
        )


def refresh_balance(merchant: Merchant, actor: Actor, instrument_id: str) -> Amount:
    """Ask the processor for the live balance (prepaid) or debt (postpaid) and remember it with the time."""
    require(merchant, actor, Permission.READ, instrument_id)
    found = instrument(merchant, instrument_id)
    if found.kind == "Prepaid":
        live = merchant.client.get_prepaid_balance(instrument_id, actor=actor.name)
    else:
        live = merchant.client.get_debt_balance(instrument_id, actor=actor.name)
    with merchant.engine.begin() as conn:
        seen = update(_instruments).where(_instruments.c.id == instrument_id)
        conn.execute(seen.values(balance_seen_at=merchant.clock()))
    return live


def cancel_token(merchant: Merchant, actor: Actor, instrument_id: str, reason: str) -> str:
    """Cancel the instrument's sender token: no further purchases. `reason` is required, a note as
    `reasons.checked_note` keeps it. Returns the RequestId."""
    require(merchant, actor, Permission.CANCEL_TOKEN, instrument_id)
    reason = reasons.checked_note(reason)
    if not reason:
        raise InvalidParams("a reason is required")
    found = instrument(merchant, instrument_id)
    request_id = merchant.client.cancel_token(found.sender_token_id, actor=actor.name, reason=reason)
    with merchant.engine.begin() as conn:
        conn.execute(
            update(_instruments).where(_instruments.c.id == instrument_id).values(status="Cancelled")
        )
    merchant.audit.record_event(actor.name, "cancel_token", "Done", instrument_id, reason)
    return request_id
