"""Property tests: random sequences of FPS actions against an independent model of the books.

A hypothesis state machine opens prepaid and postpaid instruments for two callers and two buyers, then
funds, pays, refunds (partly, fully, too much, of random earlier pays), settles, writes off, cancels
tokens, replays earlier CallerReferences (same request and changed request), reuses references across
actions and callers, and misuses tokens, with random exact amounts (integer cents, never floats). A
small model written here, not taken from fpscore, predicts every outcome: which error a refused step
raises, and every balance after a step (instruments, callers, bad debt, buyers' funding, fee income).

After every step: `check_ledger` is clean, each instrument's balance, the callers' prepaid liability and
outstanding debt, and the ledger accounts the model tracks equal the model. A refused step raises
exactly the predicted FpsError and leaves every ledger balance and every row count as it was.

Each example makes its own callers, buyers and instruments: the database lives for the whole test.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select

from fpscore.db import read_only
from fpscore.errors import (
    AmountOutOfRange,
    DuplicateRequest,
    FpsError,
    IncompatibleTokens,
    InstrumentAccessDenied,
    InsufficientBalance,
    InvalidTokenId_Sender,
    InvalidTokenType,
    InvalidTransactionId,
    PrepaidFundingLimitExceeded,
    RefundAmountExceeded,
    SettleAmountGreaterThanDebt,
    TokenNotActive_Sender,
    TransactionFullyRefundedAlready,
    TransactionTypeNotRefundable,
)
from fpscore.money import Amount
from fpscore.processor import InstrumentSetup, Processor, TransactionResult
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import (
    Buyer,
    Caller,
    CallerReferenceRecord,
    LedgerAccount,
    LedgerEntry,
    Token,
    Transaction,
)

_accounts = LedgerAccount.__table__
_callers = Caller.__table__
_buyers = Buyer.__table__
_COUNTED = (Transaction.__table__, LedgerEntry.__table__, CallerReferenceRecord.__table__, Token.__table__)

# Examples per backend: PostgreSQL round trips are slower; both keep the file well under a minute.
SETTINGS = {
    "sqlite": settings(max_examples=40, stateful_step_count=20),
    "postgres": settings(max_examples=15, stateful_step_count=20),
}
ACTIONS = {
    "fund_prepaid": "FundPrepaid",
    "pay": "Pay",
    "refund": "Refund",
    "settle_debt": "SettleDebt",
    "write_off_debt": "WriteOffDebt",
}
ANY_CENTS = st.integers(min_value=1, max_value=3_000)
# Limits: mostly realistic, sometimes tiny (hypothesis favours small integers, so keep them apart).
LIMIT_CENTS = st.one_of(
    st.sampled_from([1_000, 2_500, 5_000]), st.integers(min_value=100, max_value=6_000), st.integers(1, 99)
)


def model_fee(cents: int) -> int:
    """The reference's fee on one charge: 5% + 0.05 under 10.00, 2.9% + 0.30 from 10.00, half-up."""
    amount = Decimal(cents) / 100
    fee = (
        amount * Decimal("0.05") + Decimal("0.05")
        if amount < 10
        else amount * Decimal("0.029") + Decimal("0.30")
    )
    return int((fee * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_model_fee_matches_the_reference_examples():
    # §14: CC FundPrepaid 5.00 -> 0.30; 1.00 -> 0.10; the decided tiers at 10.00 and 25.00.
    assert [model_fee(c) for c in (500, 100, 999, 1000, 2500, 1)] == [30, 10, 55, 59, 103, 5]


@dataclass(eq=False)
class ModelInstrument:
    kind: str  # "Prepaid" or "Credit"
    caller: int  # index into the machine's callers
    buyer: int  # index into the machine's buyers
    setup: InstrumentSetup
    limit: int  # funding limit (prepaid) or credit limit (credit)
    per_purchase: int | None  # credit only: the largest single Pay
    balance: int = 0  # prepaid balance, or debt

    @property
    def prepaid(self) -> bool:
        return self.kind == "Prepaid"

    @property
    def tokens(self) -> list[str]:
        s = self.setup
        return [t for t in (s.sender_token_id, s.funding_token_id, s.settlement_token_id) if t is not None]


@dataclass(eq=False)
class ModelPay:
    instrument: ModelInstrument
    transaction_id: str
    cents: int
    refunded: int = 0


@dataclass(frozen=True)
class Sent:
    """A request that succeeded: the same request again answers `transaction_id` and moves nothing."""

    caller: int
    method: str
    kwargs: dict[str, Any]
    reference: str
    transaction_id: str


@dataclass
class Books:
    """What the model expects in the ledger accounts it tracks (deltas for the shared fee account)."""

    caller_balance: list[int] = field(default_factory=lambda: [0, 0])
    bad_debt: list[int] = field(default_factory=lambda: [0, 0])
    funding: list[int] = field(default_factory=lambda: [0, 0])
    fees: int = 0


class LedgerMachine(RuleBasedStateMachine):
    processor: Processor
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.tag = uuid.uuid4().hex[:12]
        self.counter = itertools.count(1)
        p = self.processor
        self.caller_ids = [
            p.ensure_caller(
                f"AK{self.tag}{i}", f"secret-{i}", f"Shop {i}", f"shop{i}.{self.tag}@callers.example"
            )
            for i in range(2)
        ]
        self.buyer_ids = [p.find_or_create_buyer(f"buyer{i}.{self.tag}@buyers.example") for i in range(2)]
        with read_only(self.engine) as conn:
            callers = {
                row.id: row
                for row in conn.execute(
                    select(
                        _callers.c.id, _callers.c.balance_account_id, _callers.c.bad_debt_account_id
                    ).where(_callers.c.id.in_(self.caller_ids))
                )
            }
            funding = dict(
                conn.execute(
                    select(_buyers.c.id, _buyers.c.funding_account_id).where(_buyers.c.id.in_(self.buyer_ids))
                ).all()
            )
            self.fees_account = conn.execute(
                select(_accounts.c.id).where(_accounts.c.code == "fees:USD")
            ).scalar_one()
            self.fees_start = conn.execute(
                select(_accounts.c.balance_cents).where(_accounts.c.id == self.fees_account)
            ).scalar_one()
        self.caller_accounts = [callers[c].balance_account_id for c in self.caller_ids]
        self.bad_debt_accounts = [callers[c].bad_debt_account_id for c in self.caller_ids]
        self.funding_accounts = [funding[b] for b in self.buyer_ids]
        self.books = Books()
        # The database outlives the example: problems an earlier (failing) example left in it are not
        # this example's. With a correct processor this is empty.
        self.earlier_problems = set(check_ledger(self.engine))
        self.instruments: list[ModelInstrument] = []
        self.active: dict[str, bool] = {}
        self.pays: list[ModelPay] = []
        self.unrefundable: list[tuple[int, str]] = []  # (caller, TransactionId) of non-Pay transactions
        self.sent: list[Sent] = []
        self.taken: set[tuple[int, str, str]] = set()  # (caller, action, reference) recorded
        self.references: list[str] = []  # every reference sent, refused or not

    # -- helpers -----------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[Any, ...]:
        with read_only(self.engine) as conn:
            balances = conn.execute(
                select(_accounts.c.id, _accounts.c.balance_cents).order_by(_accounts.c.id)
            )
            counts = conn.execute(
                select(*(select(func.count()).select_from(t).scalar_subquery() for t in _COUNTED))
            ).one()
            return tuple(tuple(row) for row in balances), tuple(counts)

    def _refused(self, expected: type[FpsError], call: Callable[[], object]) -> None:
        before = self._snapshot()
        with pytest.raises(FpsError) as info:
            call()
        assert type(info.value) is expected, f"expected {expected.code}, got {info.value}"
        assert self._snapshot() == before, f"refused {expected.code} moved something"

    def _reference(self, data: st.DataObject, caller: int, action: str) -> str:
        """A fresh reference, or one this caller has not used for this action: a refused one, one used
        for another action, or one the other caller used. All of them must behave as new."""
        reusable = [r for r in self.references if (caller, action, r) not in self.taken]
        if reusable and data.draw(st.integers(0, 3), label="reuse") == 0:
            return data.draw(st.sampled_from(reusable), label="reference")
        return f"{self.tag}-{next(self.counter)}"

    def _send(
        self,
        data: st.DataObject,
        caller: int,
        method: str,
        kwargs: dict[str, Any],
        expected: type[FpsError] | None,
    ) -> TransactionResult | None:
        action = ACTIONS[method]
        event(f"{action}: {expected.code if expected else 'Success'}")
        reference = self._reference(data, caller, action)
        self.references.append(reference)

        def call() -> TransactionResult:
            return getattr(self.processor, method)(
                self.caller_ids[caller], caller_reference=reference, **kwargs
            )

        if expected is not None:
            self._refused(expected, call)
            return None
        result = call()
        assert (result.status, result.replayed) == ("Success", False)
        self.taken.add((caller, action, reference))
        self.sent.append(Sent(caller, method, kwargs, reference, result.transaction_id))
        return result

    def _cents(self, data: st.DataObject, within: int, *edges: int) -> int:
        """An amount: any, one the model allows (1..within), or one at an edge (within, within + 1…)."""
        strategies = [ANY_CENTS]
        if within >= 1:
            strategies.append(st.integers(min_value=1, max_value=within))
        strategies.append(st.sampled_from(sorted({e for e in (within, within + 1, *edges) if e >= 1})))
        return data.draw(st.one_of(strategies), label="cents")

    def _pick(self, data: st.DataObject, kind: str | None = None) -> ModelInstrument:
        choices = [i for i in self.instruments if kind is None or i.kind == kind]
        return data.draw(st.sampled_from(choices), label="instrument")

    def _charged(self, inst: ModelInstrument, result: TransactionResult, cents: int) -> None:
        """FundPrepaid and SettleDebt: the buyer is charged, the caller pays the fee."""
        fee = model_fee(cents)
        self.books.funding[inst.buyer] += cents
        self.books.caller_balance[inst.caller] -= fee
        self.books.fees += fee
        view = self.processor.get_transaction(self.caller_ids[inst.caller], result.transaction_id)
        assert view.fees == Amount(fee) and view.amount == Amount(cents)

    def _has(self, kind: str) -> bool:
        return any(i.kind == kind for i in self.instruments)

    # -- setup -------------------------------------------------------------------------------------

    # (caller, buyer, kind) of the instruments every example starts with; more may be opened later.
    LAYOUT = ((0, 0, "Prepaid"), (0, 1, "Prepaid"), (0, 0, "Credit"), (0, 1, "Credit"), (1, 0, "Prepaid"),
              (1, 1, "Credit"))  # fmt: skip
    MAX_INSTRUMENTS = 8

    def _open(self, caller: int, buyer: int, kind: str, limit: int, per_purchase: int) -> None:
        p, n = self.processor, next(self.counter)
        caller_id, buyer_id = self.caller_ids[caller], self.buyer_ids[buyer]
        if kind == "Prepaid":
            refs = {
                "caller_reference_sender": f"{self.tag}-s{n}",
                "caller_reference_funding": f"{self.tag}-f{n}",
            }
            setup = p.setup_prepaid(caller_id, buyer_id, funding_limit=Amount(limit), **refs)
            inst = ModelInstrument(kind, caller, buyer, setup, limit, None)
        else:
            refs = {
                "caller_reference_sender": f"{self.tag}-c{n}",
                "caller_reference_settlement": f"{self.tag}-t{n}",
            }
            setup = p.setup_postpaid(
                caller_id,
                buyer_id,
                credit_limit=Amount(limit),
                global_amount_limit=Amount(per_purchase),
                **refs,
            )
            inst = ModelInstrument(kind, caller, buyer, setup, limit, per_purchase)
        self.instruments.append(inst)
        self.active.update({t: True for t in inst.tokens})

    @initialize(data=st.data())
    def open_instruments(self, data: st.DataObject) -> None:
        for caller, buyer, kind in self.LAYOUT:
            limit = data.draw(LIMIT_CENTS, label="limit")
            self._open(caller, buyer, kind, limit, data.draw(LIMIT_CENTS, label="per purchase"))
        # Money on the books from the start, so that every example has something to spend, refund and
        # settle even when its rules for funding or paying are switched off (hypothesis's swarm testing).
        for inst in self.instruments:
            if inst.prepaid:
                self._fund(data, inst, data.draw(st.integers(1, inst.limit), label="funding"))
            top = inst.balance if inst.prepaid else min(inst.limit, inst.per_purchase)
            self._pay(data, inst, data.draw(st.integers(1, top), label="first pay"))

    @precondition(lambda self: len(self.instruments) < self.MAX_INSTRUMENTS)
    @rule(
        caller=st.integers(0, 1),
        buyer=st.integers(0, 1),
        kind=st.sampled_from(["Prepaid", "Credit"]),
        limit=LIMIT_CENTS,
        per_purchase=LIMIT_CENTS,
    )
    def open_instrument(self, caller: int, buyer: int, kind: str, limit: int, per_purchase: int) -> None:
        self._open(caller, buyer, kind, limit, per_purchase)

    # -- money-moving actions ----------------------------------------------------------------------

    @precondition(lambda self: self._has("Prepaid"))
    @rule(data=st.data())
    def fund(self, data: st.DataObject) -> None:
        inst = self._pick(data, "Prepaid")
        room = inst.limit - inst.balance
        self._fund(data, inst, self._cents(data, room, inst.limit + 1))

    def _fund(self, data: st.DataObject, inst: ModelInstrument, cents: int) -> None:
        expected = None
        if not self.active[inst.setup.funding_token_id]:
            expected = TokenNotActive_Sender
        elif inst.balance + cents > inst.limit:
            expected = PrepaidFundingLimitExceeded
        kwargs = {
            "sender_token_id": inst.setup.funding_token_id,
            "prepaid_instrument_id": inst.setup.instrument_id,
            "amount": Amount(cents),
        }
        result = self._send(data, inst.caller, "fund_prepaid", kwargs, expected)
        if result is not None:
            inst.balance += cents
            self._charged(inst, result, cents)
            self.unrefundable.append((inst.caller, result.transaction_id))

    @precondition(lambda self: self.instruments)
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        inst = self._pick(data)
        if inst.prepaid:
            cents = self._cents(data, inst.balance)
        else:
            room = inst.limit - inst.balance
            cents = self._cents(
                data, min(room, inst.per_purchase), room, room + 1, inst.per_purchase, inst.per_purchase + 1
            )
        self._pay(data, inst, cents)

    def _pay(self, data: st.DataObject, inst: ModelInstrument, cents: int) -> None:
        expected = None
        if not self.active[inst.setup.sender_token_id]:
            expected = TokenNotActive_Sender
        elif inst.prepaid and cents > inst.balance:
            expected = InsufficientBalance
        elif not inst.prepaid and cents > inst.per_purchase:
            expected = AmountOutOfRange
        elif not inst.prepaid and inst.balance + cents > inst.limit:
            expected = InsufficientBalance
        kwargs = {"sender_token_id": inst.setup.sender_token_id, "amount": Amount(cents)}
        result = self._send(data, inst.caller, "pay", kwargs, expected)
        if result is not None:
            inst.balance += -cents if inst.prepaid else cents
            self.books.caller_balance[inst.caller] += cents
            self.pays.append(ModelPay(inst, result.transaction_id, cents))

    @precondition(lambda self: self.pays)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        pay = data.draw(st.sampled_from(self.pays), label="pay")
        inst = pay.instrument
        remaining = pay.cents - pay.refunded
        full = data.draw(st.booleans(), label="full")
        cents = (
            remaining
            if full
            else self._cents(data, remaining, remaining // 2, inst.balance, inst.balance + 1)
        )
        expected = None
        if remaining == 0:
            expected = TransactionFullyRefundedAlready
        elif cents > remaining:
            expected = RefundAmountExceeded
        elif not inst.prepaid and cents > inst.balance:  # the debt it added was settled or written off
            expected = RefundAmountExceeded
        kwargs = {"transaction_id": pay.transaction_id, "amount": None if full else Amount(cents)}
        result = self._send(data, inst.caller, "refund", kwargs, expected)
        if result is not None:
            pay.refunded += cents
            inst.balance += cents if inst.prepaid else -cents
            self.books.caller_balance[inst.caller] -= cents
            self.unrefundable.append((inst.caller, result.transaction_id))

    @precondition(lambda self: self.unrefundable)
    @rule(data=st.data())
    def refund_what_is_not_a_pay(self, data: st.DataObject) -> None:
        caller, transaction_id = data.draw(st.sampled_from(self.unrefundable), label="transaction")
        amount = data.draw(st.sampled_from([None, Amount(1)]), label="amount")
        kwargs = {"transaction_id": transaction_id, "amount": amount}
        self._send(data, caller, "refund", kwargs, TransactionTypeNotRefundable)

    @precondition(lambda self: self._has("Credit"))
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        inst = self._pick(data, "Credit")
        cents = self._cents(data, inst.balance, inst.balance // 2)
        expected = None
        if not self.active[inst.setup.settlement_token_id]:
            expected = TokenNotActive_Sender
        elif cents > inst.balance:
            expected = SettleAmountGreaterThanDebt
        kwargs = {
            "sender_token_id": inst.setup.settlement_token_id,
            "credit_instrument_id": inst.setup.instrument_id,
            "amount": Amount(cents),
        }
        result = self._send(data, inst.caller, "settle_debt", kwargs, expected)
        if result is not None:
            inst.balance -= cents
            self._charged(inst, result, cents)
            self.unrefundable.append((inst.caller, result.transaction_id))

    @precondition(lambda self: self._has("Credit"))
    @rule(data=st.data())
    def write_off(self, data: st.DataObject) -> None:
        inst = self._pick(data, "Credit")
        cents = self._cents(data, inst.balance)
        expected = SettleAmountGreaterThanDebt if cents > inst.balance else None
        kwargs = {"credit_instrument_id": inst.setup.instrument_id, "amount": Amount(cents)}
        result = self._send(data, inst.caller, "write_off_debt", kwargs, expected)
        if result is not None:
            inst.balance -= cents
            self.books.bad_debt[inst.caller] += cents
            self.unrefundable.append((inst.caller, result.transaction_id))

    # -- tokens ------------------------------------------------------------------------------------

    @precondition(lambda self: 3 * list(self.active.values()).count(False) < len(self.instruments))
    @rule(data=st.data())
    def cancel_token(self, data: st.DataObject) -> None:
        inst = self._pick(data)
        token = data.draw(st.sampled_from(inst.tokens), label="token")
        before = self._snapshot()
        self.processor.cancel_token(self.caller_ids[inst.caller], token, "property test")
        self.active[token] = False
        balances, counts = self._snapshot()
        assert balances == before[0] and counts == before[1], "CancelToken moved money or wrote rows"

    @precondition(lambda self: self.instruments)
    @rule(data=st.data())
    def misuse_token(self, data: st.DataObject) -> None:
        """A token of the wrong role, or another instrument's funding token: refused before anything."""
        inst = self._pick(data)
        s = inst.setup
        other_token = s.funding_token_id if inst.prepaid else s.settlement_token_id
        choice = data.draw(st.sampled_from(["pay", "charge", "foreign"]), label="misuse")
        if choice == "pay":  # Pay with a funding or settlement token
            kwargs = {"sender_token_id": other_token, "amount": Amount(1)}
            self._send(data, inst.caller, "pay", kwargs, InvalidTokenType)
        elif choice == "charge" and inst.prepaid:  # FundPrepaid with the prepaid sender token
            kwargs = {"sender_token_id": s.sender_token_id, "prepaid_instrument_id": s.instrument_id}
            self._send(data, inst.caller, "fund_prepaid", {**kwargs, "amount": Amount(1)}, InvalidTokenType)
        elif choice == "charge":  # SettleDebt with the credit sender token
            kwargs = {"sender_token_id": s.sender_token_id, "credit_instrument_id": s.instrument_id}
            self._send(data, inst.caller, "settle_debt", {**kwargs, "amount": Amount(1)}, InvalidTokenType)
        else:  # this instrument's funding/settlement token against another instrument of its caller
            others = [i for i in self.instruments if i.kind == inst.kind and i.caller == inst.caller]
            target = data.draw(st.sampled_from(others), label="target")
            if target is inst:
                return
            expected = TokenNotActive_Sender if not self.active[other_token] else IncompatibleTokens
            if inst.prepaid:
                kwargs = {"sender_token_id": other_token, "prepaid_instrument_id": target.setup.instrument_id}
                self._send(data, inst.caller, "fund_prepaid", {**kwargs, "amount": Amount(1)}, expected)
            else:
                kwargs = {"sender_token_id": other_token, "credit_instrument_id": target.setup.instrument_id}
                self._send(data, inst.caller, "settle_debt", {**kwargs, "amount": Amount(1)}, expected)

    @precondition(lambda self: self.instruments)
    @rule(data=st.data())
    def other_callers_instrument(self, data: st.DataObject) -> None:
        """The other caller may not pay with, charge, write off, refund on or read this instrument."""
        inst = self._pick(data)
        other = 1 - inst.caller
        s = inst.setup
        choice = data.draw(st.sampled_from(["pay", "charge", "write_off", "refund", "read"]), label="what")
        if choice == "pay":
            kwargs = {"sender_token_id": s.sender_token_id, "amount": Amount(1)}
            self._send(data, other, "pay", kwargs, InvalidTokenId_Sender)
        elif choice == "charge" and inst.prepaid:
            kwargs = {"sender_token_id": s.funding_token_id, "prepaid_instrument_id": s.instrument_id}
            self._send(data, other, "fund_prepaid", {**kwargs, "amount": Amount(1)}, InvalidTokenId_Sender)
        elif choice == "charge":
            kwargs = {"sender_token_id": s.settlement_token_id, "credit_instrument_id": s.instrument_id}
            self._send(data, other, "settle_debt", {**kwargs, "amount": Amount(1)}, InvalidTokenId_Sender)
        elif choice == "write_off" and not inst.prepaid:
            kwargs = {"credit_instrument_id": s.instrument_id, "amount": Amount(1)}
            self._send(data, other, "write_off_debt", kwargs, InstrumentAccessDenied)
        elif choice == "refund":
            pays = [p for p in self.pays if p.instrument is inst]
            if pays:
                kwargs = {"transaction_id": pays[-1].transaction_id, "amount": None}
                self._send(data, other, "refund", kwargs, InvalidTransactionId)
        else:
            read = self.processor.get_prepaid_balance if inst.prepaid else self.processor.get_debt_balance
            self._refused(InstrumentAccessDenied, lambda: read(self.caller_ids[other], s.instrument_id))

    # -- CallerReference replays -------------------------------------------------------------------

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay_same_request(self, data: st.DataObject) -> None:
        sent = data.draw(st.sampled_from(self.sent), label="sent")
        before = self._snapshot()
        result = getattr(self.processor, sent.method)(
            self.caller_ids[sent.caller], caller_reference=sent.reference, **sent.kwargs
        )
        assert result == TransactionResult(sent.transaction_id, "Success", replayed=True)
        assert self._snapshot() == before, "a replayed request moved something"

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay_changed_request(self, data: st.DataObject) -> None:
        sent = data.draw(st.sampled_from(self.sent), label="sent")
        change = data.draw(st.sampled_from(["amount", "description"]), label="change")
        kwargs = dict(sent.kwargs)
        if change == "amount":
            amount = kwargs["amount"]
            kwargs["amount"] = Amount(1) if amount is None else Amount(amount.cents + 1)
        else:
            kwargs["caller_description"] = "another request"
        self._refused(
            DuplicateRequest,
            lambda: getattr(self.processor, sent.method)(
                self.caller_ids[sent.caller], caller_reference=sent.reference, **kwargs
            ),
        )

    # -- what must hold after every step -----------------------------------------------------------

    @invariant()
    def books_match_the_model(self) -> None:
        assert [p for p in check_ledger(self.engine) if p not in self.earlier_problems] == []
        p = self.processor
        for inst in self.instruments:
            caller_id, instrument_id = self.caller_ids[inst.caller], inst.setup.instrument_id
            if inst.prepaid:
                stored = p.get_prepaid_balance(caller_id, instrument_id).available.cents
                assert stored >= 0
            else:
                stored = p.get_debt_balance(caller_id, instrument_id).available.cents
                assert 0 <= stored <= inst.limit
            assert stored == inst.balance, f"{inst.kind} instrument {instrument_id}"
        for caller, caller_id in enumerate(self.caller_ids):
            mine = [i for i in self.instruments if i.caller == caller]
            liability = sum(i.balance for i in mine if i.prepaid)
            debt = sum(i.balance for i in mine if not i.prepaid)
            assert p.get_total_prepaid_liability(caller_id).available == Amount(liability)
            assert p.get_outstanding_debt_balance(caller_id).available == Amount(debt)
        expected = {self.fees_account: self.fees_start + self.books.fees}
        for accounts, values in (
            (self.caller_accounts, self.books.caller_balance),
            (self.bad_debt_accounts, self.books.bad_debt),
            (self.funding_accounts, self.books.funding),
        ):
            expected.update(zip(accounts, values, strict=True))
        with read_only(self.engine) as conn:
            stored = dict(
                conn.execute(
                    select(_accounts.c.id, _accounts.c.balance_cents).where(
                        _accounts.c.id.in_(list(expected))
                    )
                ).all()
            )
        assert stored == expected


def test_random_action_sequences_keep_the_books(engine: Engine, backend: str) -> None:
    machine = type("LedgerMachine", (LedgerMachine,), {"processor": Processor(engine), "engine": engine})
    run_state_machine_as_test(
        machine,
        settings=settings(
            SETTINGS[backend],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
