"""`fpscore demo`: 90 days of a small digital-goods shop, sent through the real signed path.

Every instrument is opened by a sandbox buyer walking the processor's Co-Branded UI pages
(`fpscore.sandbox.authorize`) and the merchant verifying the signed return (`pipelines.complete`); every money
movement is a merchant flow, so an `FpsClient` signs it and the processor (embedded, or the one at
FPS_ENDPOINT) answers it. Customers buy songs (0.69, 0.99, 1.29), game items (1.99, 4.99, 9.99) and point
packs (4.99, 9.99, 19.99) against prepaid balances they top up when low, or on postpaid credit lines that
finance settles under the settlement policy (FPS_SETTLE_SHARE, FPS_SETTLE_AFTER_DAYS) at the end of each day,
except the last UNSETTLED_DAYS days and today: the instruments due since then (over the share of their limit,
or owing for too long) wait on Settlements → Due now for finance to try; support refunds some purchases and
writes off some debt, with reasons. A few requests fail as they would in life: a purchase tried before the
top-up (InsufficientBalance), a top-up above the instrument's funding limit (PrepaidFundingLimitExceeded), a
pack above the credit line's per-purchase limit (AmountOutOfRange) or beyond its credit limit
(InsufficientBalance), an authorization the buyer cancels.

**History.** The days end today: the history runs up to the moment the demo started, so the Fees saved page's
default range (`analytics.DEFAULT_RANGE`, the last 90 days, today included) holds all of the default 90 days,
and the figure the demo prints is the one that page shows first. The merchant and the embedded processor take
their time from a clock (`connect`'s `clock`); the demo runs both on a `SimulatedClock` it moves to each
event's simulated moment, so every record is written at its time once (the daily fee rollup included) and both
sides agree on when things happened. Nothing rewrites history. A remote processor (FPS_ENDPOINT) keeps its own
real time, and so do the client's requests to it and their records in api_calls.

**Deterministic.** One seeded `random.Random` decides every customer, purchase, top-up, refund and
write-off; the same seed and size give the same traffic (identifiers and real times differ, and today's part
stops at the moment the demo runs).

**Safe to run twice.** A finished run leaves an audit event (`demo_seeded`). A second run sees it and
adds nothing (it only creates demo staff accounts that are missing) and prints the summary again. A run
that stopped half-way (demo customers but no marker) is refused: start again from an empty FPS_DATA_DIR
(or empty databases), since replaying half a history would duplicate it.

**Staff.** One demo account per role, `demo-<role>`, made with `staff.add_staff`. The password is
FPS_DEMO_PASSWORD when set (at least 10 characters), otherwise `demo-<role>-pass`; it is printed once,
when the account is created. Demo settlements are made as demo-finance, refunds and write-offs as
demo-support, purchases and top-ups by the `demo-storefront` job.

Default size (30 customers, 90 days: about 1,300 purchases, 230 top-ups, 40 settlements) takes about 20 s
on a 2-core machine with the embedded processor on SQLite (more while other work loads both cores); the
flows' own calls are nearly all of it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Engine, Table, func, select

from fpscore import sandbox
from fpscore.config import Settings
from fpscore.db import read_only, utcnow
from fpscore.errors import FpsError
from fpscore.merchant import analytics, flows, movements, pipelines
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.roles import ROLES, Actor, Permission
from fpscore.merchant.schema import (
    AuditEvent,
    Customer,
    MerchantInstrument,
    Staff,
)
from fpscore.merchant.settlement import DueTotals, SettlementPolicy, due_instruments, due_totals, settle_many
from fpscore.merchant.staff import add_staff
from fpscore.money import Amount

DEFAULT_CUSTOMERS = 30
DEFAULT_DAYS = 90
DEFAULT_SEED = 20080917
MAX_CUSTOMERS = 5_000
MAX_DAYS = 366
DEMO_DOMAIN = "demo.tuneshop.example"
DEMO_MARKER = "demo_seeded"
RETURN_URL = "https://tuneshop.example/fps/return"
STOREFRONT = Actor.job("demo-storefront", Permission.OPEN_INSTRUMENT, Permission.PURCHASE, Permission.FUND,
                       Permission.READ)  # fmt: skip
FINANCE = Actor.staff("demo-finance", "finance")
SUPPORT = Actor.staff("demo-support", "support")


class DemoError(Exception):
    """The demo cannot run here (half a previous run, a bad size or password)."""


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    price: Amount


def _usd(text: str) -> Amount:
    return Amount.parse(text)


SONGS = [("0.99", 6), ("1.29", 3), ("0.69", 2)]
SONG_WORDS = (
    ["Midnight", "Paper", "Electric", "Silver", "Quiet", "Neon", "Golden", "Broken", "Summer", "Velvet"],
    ["Harbor", "Engines", "Letters", "Skyline", "Rain", "Highway", "Echoes", "Gardens", "Static", "Tide"],
)
GAME_ITEMS = [
    Product("Game item: Ember Sword", _usd("1.99")),
    Product("Game item: Frost Shield", _usd("1.99")),
    Product("Game item: Extra Lives x5", _usd("1.99")),
    Product("Game item: Dragon Mount", _usd("4.99")),
    Product("Game item: Castle Expansion", _usd("4.99")),
    Product("Game item: Season Pass", _usd("9.99")),
]
POINT_PACKS = [
    Product("Points: 500", _usd("4.99")),
    Product("Points: 1,100", _usd("9.99")),
    Product("Points: 2,400", _usd("19.99")),
]
FIRST_NAMES = (
    "Ada Ben Cleo Dev Esme Finn Gia Hugo Iris Jon Kai Lena Milo Nora Omar Pia Quinn Rosa Sami Tess".split()
)
LAST_NAMES = (
    "Adler Brook Castro Diaz Ekberg Fox Grant Haas Ito Jensen Kaur Lund Moreau Novak Park Silva".split()
)
REFUND_REASONS = [
    "bought by mistake",
    "duplicate purchase",
    "download failed twice",
    "child's accidental purchase, parent asked for a refund",
    "item never appeared in the game inventory",
]
PARTIAL_REFUND_REASON = "unused points returned at the customer's request"
GOODWILL_REASON = "goodwill credit after the game server outage"
CLOSED_REASON = "customer closed their account; balance below the collection threshold"
SMALL_DEBT = _usd("10.00")
UNSETTLED_DAYS = 3  # finance's end-of-day settlement has not run on the last days, nor yet today


# -- the plan --------------------------------------------------------------------------------------------


@dataclass
class CustomerPlan:
    index: int
    name: str
    email: str
    taste: str  # music, gamer, mixed
    purchases_per_day: float
    kinds: tuple[str, ...]  # the instruments they open, first one on open_day
    open_day: int
    funding_limit: Amount
    top_up: Amount
    credit_limit: Amount
    purchase_limit: Amount
    churn_day: int | None  # postpaid customers who leave: no purchases from this day
    goodwill_day: int | None
    instruments: dict[str, str] = field(default_factory=dict)  # kind -> instrument id, once opened


def _plan_customers(rng: random.Random, customers: int, days: int) -> list[CustomerPlan]:
    plans = []
    for index in range(customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        taste = rng.choices(["music", "gamer", "mixed"], weights=[5, 3, 2])[0]
        rate = rng.choice([0.15, 0.3, 0.5, 0.8, 1.2])
        kind = "Prepaid" if rng.random() < 0.55 else "Postpaid"
        both = rng.random() < 0.1
        kinds = (kind, "Postpaid" if kind == "Prepaid" else "Prepaid") if both else (kind,)
        open_day = 0 if rng.random() < 0.5 else rng.randrange(0, max(1, days * 2 // 3))
        funding_limit = _usd(rng.choice(["25.00", "50.00"]))
        top_up = _usd(rng.choice(["10.00", "20.00", "25.00"]))
        if taste == "music":
            credit_limit, purchase_limit = _usd("25.00"), _usd("10.00")
        else:
            credit_limit = _usd("50.00")
            purchase_limit = _usd("20.00") if rng.random() < 0.7 else _usd("10.00")
        churn_day = None
        if "Postpaid" in kinds and rng.random() < 0.15 and days > open_day + 10:
            churn_day = rng.randrange(open_day + 5, days)
        goodwill_day = rng.randrange(open_day, days) if rng.random() < 0.1 else None
        plans.append(
            CustomerPlan(
                index, f"{first} {last}", f"{first}.{last}.{index:04d}@{DEMO_DOMAIN}".lower(), taste, rate,
                kinds, open_day, funding_limit, min(top_up, funding_limit), credit_limit, purchase_limit,
                churn_day, goodwill_day,
            )
        )  # fmt: skip
    return plans


def _product(rng: random.Random, taste: str) -> Product:
    kind = rng.choices(
        ["song", "item", "pack"],
        weights={"music": [85, 12, 3], "gamer": [15, 50, 35], "mixed": [50, 30, 20]}[taste],
    )[0]
    if kind == "song":
        price = rng.choices([p for p, _ in SONGS], weights=[w for _, w in SONGS])[0]
        title = f"{rng.choice(SONG_WORDS[0])} {rng.choice(SONG_WORDS[1])}"
        return Product(f"Song: {title}", _usd(price))
    return rng.choice(GAME_ITEMS if kind == "item" else POINT_PACKS)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# -- time ----------------------------------------------------------------------------------------------


class SimulatedClock:
    """The demo's time, which the merchant and the embedded processor both run on: the moment it was last
    set to (`at`: the simulated moment of the event under way) plus the real time since, so that the rows
    one event writes keep their order."""

    def __init__(self, moment: datetime):
        self._moment, self._began = moment, time.monotonic()

    def at(self, moment: datetime) -> None:
        self._moment, self._began = moment, time.monotonic()

    def __call__(self) -> datetime:
        return self._moment + timedelta(seconds=time.monotonic() - self._began)


# -- the traffic -----------------------------------------------------------------------------------------


@dataclass
class Counts:
    instruments_opened: int = 0
    authorizations_cancelled: int = 0
    purchases: int = 0
    purchases_refused: int = 0
    fundings: int = 0
    fundings_refused: int = 0
    refunds: int = 0
    settlements: int = 0
    write_offs: int = 0
    tokens_cancelled: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def refused(self, error: FpsError) -> None:
        self.refusals[error.code] = self.refusals.get(error.code, 0) + 1


class _Traffic:
    def __init__(self, merchant: Merchant, clock: SimulatedClock, rng: random.Random,
                 plans: list[CustomerPlan], start: datetime, days: int, until: datetime,
                 policy: SettlementPolicy):  # fmt: skip
        self.merchant, self.rng, self.plans, self.start, self.days = merchant, rng, plans, start, days
        self.until = until  # nothing happens from this moment on: the last day is today, still running
        self.policy = policy
        self.clock = clock
        self.counts = Counts()
        self._events: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._sequence = itertools.count()

    def _schedule(self, when: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self._events, (when, next(self._sequence), action))

    def _moment(self, day: int, earliest: float = 7.0, latest: float = 23.5) -> datetime:
        hours = self.rng.uniform(earliest, latest)
        return self.start + timedelta(days=day, seconds=int(hours * 3600))

    def _book_cents(self, instrument_id: str) -> int:
        table = MerchantInstrument.__table__
        with read_only(self.merchant.engine) as conn:
            return conn.execute(select(table.c.balance_cents).where(table.c.id == instrument_id)).scalar_one()

    def run_day(self, day: int) -> None:
        rng = self.rng
        for plan in self.plans:
            if day < plan.open_day:
                continue
            earliest = 7.0
            if day == plan.open_day:
                opening = rng.uniform(8.0, 18.0)
                opened = self.start + timedelta(days=day, seconds=int(opening * 3600))
                self._schedule(opened, lambda at, plan=plan: self._open(plan, plan.kinds[0], at))
                if len(plan.kinds) > 1:
                    later = opened + timedelta(minutes=rng.randrange(20, 90))
                    self._schedule(later, lambda at, plan=plan: self._open(plan, plan.kinds[1], at))
                earliest = opening + 2.0  # after the instruments are open
            if plan.churn_day is None or day < plan.churn_day:
                for _ in range(_poisson(rng, plan.purchases_per_day)):
                    product = _product(rng, plan.taste)
                    when = self._moment(day, earliest)
                    self._schedule(when, lambda at, plan=plan, product=product: self._buy(plan, product, at))
            if plan.goodwill_day == day:
                when = self._moment(day, 10.0, 17.0)
                self._schedule(when, lambda at, plan=plan: self._goodwill(plan, at))
            if plan.churn_day is not None and day == plan.churn_day + 5:
                when = self._moment(day, 10.0, 17.0)
                self._schedule(when, lambda at, plan=plan: self._close(plan, at))
        while self._events:
            when, _, action = heapq.heappop(self._events)
            if when >= self.until:  # the rest of today has not happened yet
                self._events.clear()
                break
            self.clock.at(when)
            action(when)
        if day < self.days - 1 - UNSETTLED_DAYS:
            day_end = self.start + timedelta(days=day + 1, minutes=-5)
            self.clock.at(day_end)
            self._settle_due(day_end)

    # -- events

    def _open(self, plan: CustomerPlan, kind: str, at: datetime) -> None:
        merchant = self.merchant
        customer_id = flows.ensure_customer(merchant, plan.email, plan.name)
        cancel_first = self.rng.random() < 0.05
        for confirm in (False, True) if cancel_first else (True,):
            if kind == "Prepaid":
                url = pipelines.start_prepaid(
                    merchant, STOREFRONT, customer_id, plan.funding_limit, RETURN_URL,
                    payment_reason="Tune Shop prepaid balance",
                )  # fmt: skip
            else:
                url = pipelines.start_postpaid(
                    merchant, STOREFRONT, customer_id, plan.credit_limit, plan.purchase_limit, RETURN_URL,
                    payment_reason="Tune Shop pay-later account",
                )  # fmt: skip
            back = sandbox.authorize(merchant.client.session, url, plan.email, plan.name, confirm=confirm)
            result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
            if not confirm:
                self.counts.authorizations_cancelled += 1
                continue
            if result.status != "Completed" or result.instrument_id is None:
                raise DemoError(f"the {kind} authorization of {plan.email} did not complete: {result}")
            plan.instruments[kind] = result.instrument_id
            self.counts.instruments_opened += 1
        if kind == "Prepaid":
            self._fund(plan, plan.top_up)

    def _fund(self, plan: CustomerPlan, amount: Amount) -> bool:
        try:
            flows.fund(self.merchant, STOREFRONT, plan.instruments["Prepaid"], amount)
        except FpsError as error:
            self.counts.fundings_refused += 1
            self.counts.refused(error)
            return False
        self.counts.fundings += 1
        return True

    def _top_up_for(self, plan: CustomerPlan, price: Amount) -> None:
        """Top up in the customer's usual amount (enough of them to cover `price`), within the limit."""
        balance = self._book_cents(plan.instruments["Prepaid"])
        room = plan.funding_limit.cents - balance
        if balance > 0 and self.rng.random() < 0.04:
            self._fund(plan, plan.funding_limit)  # more than the limit allows on top of the balance: refused
        needed = price.cents - balance
        amount = min(-(-needed // plan.top_up.cents) * plan.top_up.cents, room)
        self._fund(plan, Amount(amount))

    def _buy(self, plan: CustomerPlan, product: Product, at: datetime) -> None:
        kinds = [kind for kind in plan.kinds if kind in plan.instruments]
        if not kinds:
            return
        kind = kinds[0] if len(kinds) == 1 else self.rng.choice(kinds)
        instrument_id = plan.instruments[kind]
        if kind == "Prepaid" and self._book_cents(instrument_id) < product.price.cents:
            if self.rng.random() < 0.06:
                self._purchase(instrument_id, product)  # tried before topping up: InsufficientBalance
            self._top_up_for(plan, product.price)
        outcome = self._purchase(instrument_id, product)
        if outcome is not None and self.rng.random() < 0.025:
            partial = product.name.startswith("Points") and self.rng.random() < 0.4
            amount = Amount(product.price.cents // 2) if partial else None
            reason = PARTIAL_REFUND_REASON if partial else self.rng.choice(REFUND_REASONS)
            day_end = self.start + timedelta(days=(at - self.start).days + 1, minutes=-10)
            when = min(at + timedelta(minutes=self.rng.randrange(5, 240)), day_end)
            self._schedule(when, lambda _at: self._refund(outcome.row_id, amount, reason))

    def _purchase(self, instrument_id: str, product: Product) -> flows.Outcome | None:
        try:
            outcome = flows.purchase(self.merchant, STOREFRONT, instrument_id, product.name, product.price)
        except FpsError as error:
            self.counts.purchases_refused += 1
            self.counts.refused(error)
            return None
        self.counts.purchases += 1
        return outcome

    def _refund(self, purchase_id: int, amount: Amount | None, reason: str) -> None:
        try:
            flows.refund_purchase(self.merchant, SUPPORT, purchase_id, reason, amount)
        except FpsError as error:  # e.g. a postpaid purchase whose debt was written off meanwhile
            self.counts.refused(error)
            return
        self.counts.refunds += 1

    def _goodwill(self, plan: CustomerPlan, at: datetime) -> None:
        instrument_id = plan.instruments.get("Postpaid")
        debt = self._book_cents(instrument_id) if instrument_id else 0
        if instrument_id and debt > 0:
            amount = Amount(min(debt, self.rng.choice([99, 199, 299])))
            self._write_off(instrument_id, amount, f"{GOODWILL_REASON} on {at:%d %b}")

    def _write_off(self, instrument_id: str, amount: Amount, reason: str) -> None:
        try:
            flows.write_off(self.merchant, SUPPORT, instrument_id, amount, reason)
        except FpsError as error:
            self.counts.refused(error)
            return
        self.counts.write_offs += 1

    def _close(self, plan: CustomerPlan, at: datetime) -> None:
        """A customer who left: a small remaining debt is written off and the credit line cancelled; a
        larger one stays for the settlement policy to collect."""
        instrument_id = plan.instruments.get("Postpaid")
        if instrument_id is None:
            return
        debt = self._book_cents(instrument_id)
        if debt > SMALL_DEBT.cents:
            return
        if debt > 0:
            self._write_off(instrument_id, Amount(debt), CLOSED_REASON)
        flows.cancel_token(self.merchant, SUPPORT, instrument_id, "customer closed their account")
        self.counts.tokens_cancelled += 1

    def _settle_due(self, now: datetime) -> None:
        due = [item.instrument_id for item in due_instruments(self.merchant, self.policy, now)]
        if due:
            results = settle_many(self.merchant, FINANCE, due)
            self.counts.settlements += sum(1 for result in results if result.outcome is not None)


# -- running it ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoSummary:
    added: bool  # False: the demo data was there already
    customers: int
    prepaid_instruments: int
    postpaid_instruments: int
    purchases: int
    purchase_cents: int
    failed_purchases: int
    fundings: int
    settlements: int
    refunds: int
    write_offs: int
    fees: analytics.KindRow  # over `days`, as the Fees saved page shows them first
    days: analytics.DayRange  # the page's default range (analytics.DEFAULT_RANGE) on the day summarized
    due: DueTotals  # what Settlements → Due now lists
    seconds: float

    def lines(self) -> list[str]:
        state = "added" if self.added else "already present, nothing added"
        fees = self.fees
        first = self.days.start.isoformat() if self.days.start else "the first record"
        last = self.days.last.isoformat() if self.days.last else "today"
        owed = ", ".join(str(debt) for debt in self.due.debt) or "nothing"
        return [
            f"demo data {state}: {self.customers} customers, {self.prepaid_instruments} prepaid and "
            f"{self.postpaid_instruments} postpaid instruments",
            f"{self.purchases} purchases for {Amount(self.purchase_cents)} "
            f"({self.failed_purchases} refused), "
            f"{self.fundings} top-ups, {self.settlements} settlements, {self.refunds} refunds, "
            f"{self.write_offs} write-offs",
            f"Fees saved, {analytics.DEFAULT_RANGE.lower()} ({first} to {last}, UTC, the page's default): "
            f"fees charged alone {Amount(fees.fees_alone_cents)}, paid {Amount(fees.fees_paid_cents)}: "
            f"saved {Amount(fees.saved_cents)} by aggregating",
            f"Settlements, due now: {self.due.instruments} postpaid "
            f"instrument{'' if self.due.instruments == 1 else 's'} owing {owed} "
            f"({self.seconds:.1f} s)",
        ]


def demo_password(settings: Settings, role: str) -> str:
    return settings.demo_password or f"demo-{role}-pass"


def ensure_demo_staff(engine: Engine, settings: Settings, out: Callable[[str], None]) -> list[str]:
    """Create the demo account of each role that is missing; print each new password once."""
    table = Staff.__table__
    created = []
    with read_only(engine) as conn:
        existing = set(
            conn.execute(select(table.c.username).where(table.c.username.like("demo-%"))).scalars()
        )
    for role in ROLES:
        username = f"demo-{role}"
        if username in existing:
            continue
        password = demo_password(settings, role)
        add_staff(engine, username, role, password, f"Demo {role.title()}")
        out(f"staff account {username} ({role}) created, password: {password}")
        created.append(username)
    return created


def _existing(merchant: Merchant) -> str:
    """ "done" (a finished demo), "partial" (demo customers without the marker) or "empty"."""
    events, customers = AuditEvent.__table__, Customer.__table__
    with read_only(merchant.engine) as conn:
        if conn.execute(select(events.c.id).where(events.c.action == DEMO_MARKER).limit(1)).first():
            return "done"
        if conn.execute(
            select(customers.c.id).where(customers.c.email.like(f"%@{DEMO_DOMAIN}")).limit(1)
        ).first():
            return "partial"
    return "empty"


def _count(conn: Any, table: Table, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def summarize(merchant: Merchant, policy: SettlementPolicy, added: bool, seconds: float) -> DemoSummary:
    """What the demo data holds; its fees over the Fees saved page's default range on today's date."""
    instruments, purchases = MerchantInstrument.__table__, movements.PAY.table
    with read_only(merchant.engine) as conn:
        kinds = dict(
            conn.execute(select(instruments.c.kind, func.count()).group_by(instruments.c.kind)).all()
        )
        counts = [
            _count(conn, Customer.__table__),
            _count(conn, purchases, purchases.c.status == "Failure"),
            *(
                _count(conn, kind.table, kind.table.c.status == "Success")
                for kind in (movements.PAY, movements.FUND_PREPAID, movements.SETTLE_DEBT, movements.REFUND,
                             movements.WRITE_OFF_DEBT)
            ),
        ]  # fmt: skip
        bought = conn.execute(
            select(func.coalesce(func.sum(purchases.c.amount_cents), 0)).where(
                purchases.c.status == "Success"
            )
        ).scalar_one()
    now = merchant.clock()
    days = analytics.preset_range(analytics.DEFAULT_RANGE, now.astimezone(UTC).date())
    return DemoSummary(
        added, counts[0], int(kinds.get("Prepaid", 0)), int(kinds.get("Postpaid", 0)), counts[2], int(bought),
        counts[1], counts[3], counts[4], counts[5], counts[6],
        analytics.fee_totals(merchant.engine, days.start, days.end), days, due_totals(merchant, policy, now),
        seconds,
    )  # fmt: skip


def run_demo(
    settings: Settings,
    customers: int = DEFAULT_CUSTOMERS,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    *,
    progress: bool = True,
    out: Callable[[str], None] = print,
) -> DemoSummary:
    """Seed the merchant (and, embedded, the processor) with `days` of traffic from `customers`."""
    from tqdm import tqdm

    if not 1 <= customers <= MAX_CUSTOMERS or not 1 <= days <= MAX_DAYS:
        raise DemoError(f"customers is 1 to {MAX_CUSTOMERS} and days 1 to {MAX_DAYS}")
    if len(demo_password(settings, "finance")) < 10:
        raise DemoError("FPS_DEMO_PASSWORD needs at least 10 characters")
    began = time.monotonic()
    policy = SettlementPolicy.of(settings)
    clock = SimulatedClock(utcnow())  # real time until the traffic starts, and again after it
    merchant = connect(settings, clock)
    try:
        ensure_demo_staff(merchant.engine, settings, out)
        state = _existing(merchant)
        if state == "partial":
            raise DemoError("a previous demo run stopped half-way; run it again on empty databases "
                            "(e.g. a fresh FPS_DATA_DIR)")  # fmt: skip
        if state == "done":
            summary = summarize(merchant, policy, False, time.monotonic() - began)
        else:
            rng = random.Random(seed)
            plans = _plan_customers(rng, customers, days)
            now = utcnow()
            today = datetime.combine(now.date(), clock_time(0), tzinfo=UTC)
            traffic = _Traffic(merchant, clock, rng, plans, today - timedelta(days=days - 1), days, now,
                               policy)  # fmt: skip
            with tqdm(
                total=days, desc="demo traffic", unit="day", file=sys.stderr, disable=not progress
            ) as bar:
                for day in range(days):
                    traffic.run_day(day)
                    bar.set_postfix(purchases=traffic.counts.purchases, refresh=False)
                    bar.update(1)
            clock.at(utcnow())
            merchant.audit.record_event(
                "demo", DEMO_MARKER, "Done", f"seed {seed}",
                f"{customers} customers, {days} days: {traffic.counts}",
            )  # fmt: skip
            summary = summarize(merchant, policy, True, time.monotonic() - began)
    finally:
        merchant.close()
    for line in summary.lines():
        out(line)
    return summary
