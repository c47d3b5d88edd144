"""Back-office test data made the way production makes it: instruments opened through the processor's
real Co-Branded UI (tests/merchant/journeys.py), money moved with the merchant's flows, and one staff
account per role. Shared by the AppTest suite and the browser test."""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "merchant"))
import journeys  # noqa: E402
from journeys import STOREFRONT  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from fpscore import sandbox  # noqa: E402
from fpscore.config import Settings  # noqa: E402
from fpscore.db import utcnow  # noqa: E402
from fpscore.merchant import flows, pipelines  # noqa: E402
from fpscore.merchant.connect import Merchant, connect  # noqa: E402
from fpscore.merchant.roles import Actor, Permission  # noqa: E402
from fpscore.merchant.schema import ApiCall, Staff  # noqa: E402
from fpscore.merchant.staff import hash_password  # noqa: E402
from fpscore.money import Amount  # noqa: E402

SUPPORT_JOB = Actor.job("support-desk", Permission.READ, Permission.REFUND, Permission.WRITE_OFF)
PASSWORD = "correct horse battery"
STAFF = {  # role: user name
    "finance": "fiona",
    "support": "sam",
    "analyst": "ana",
    "troubleshooter": "theo",
    "admin": "ada",
}
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "AKIDSHOP", "shop-secret-key"


def env_for(data_dir: Path) -> dict[str, str]:
    """The environment that points the dashboard (and `connect`) at `data_dir`."""
    return {
        "FPS_DATA_DIR": str(data_dir),
        "FPS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "FPS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "FPS_DATABASE_URL": "",
        "FPS_PROCESSOR_DATABASE_URL": "",
        "FPS_ENDPOINT": "",
    }


def open_merchant(data_dir: Path) -> Merchant:
    settings = dataclasses.replace(
        Settings.from_env({"FPS_DATA_DIR": str(data_dir)}),
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    merchant = connect(settings)
    merchant.client.backoff_s = 0.0
    return merchant


def usd(text: str) -> Amount:
    return Amount.parse(text)


def open_prepaid(merchant: Merchant, email: str, limit: str = "50.00", fund: str | None = None) -> str:
    return journeys.open_prepaid(merchant, email, limit, fund)


def open_postpaid(merchant: Merchant, email: str, limit: str = "25.00", per_purchase: str = "10.00") -> str:
    return journeys.open_postpaid(merchant, email, limit, per_purchase)


@dataclass
class Seeded:
    """What `seed` made: instrument ids by name, and a purchase that can be refunded."""

    prepaid: str = ""  # funded 20.00, two purchases
    due: str = ""  # postpaid, debt 21.97 of 25.00: due under the default policy (80%)
    owing: str = ""  # postpaid, debt 4.99: not due
    settled: str = ""  # postpaid, settled once, no debt
    refundable_purchase_id: int = 0
    request_id: str = ""  # the RequestId of the settlement of `settled`
    extra: list[str] = field(default_factory=list)


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per test process (at the production cost, about half a second): every test
    account shares it."""
    return hash_password(PASSWORD)


def add_account(merchant: Merchant, username: str, role: str, display_name: str) -> None:
    """A staff account with the password PASSWORD, as `staff.add_staff` would make it."""
    with merchant.engine.begin() as conn:
        conn.execute(
            insert(Staff.__table__).values(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=password_hash(),
                created_at=utcnow(),
            )
        )


def seed_staff(merchant: Merchant) -> None:
    for role, username in STAFF.items():
        add_account(merchant, username, role, username.title())


def seed(merchant: Merchant, *, staff: bool = True) -> Seeded:
    """A small book: a funded prepaid instrument with purchases, three postpaid ones (due, owing,
    settled), a refund and a write-off in the history."""
    if staff:
        seed_staff(merchant)
    made = Seeded()
    made.prepaid = open_prepaid(merchant, "ada@buyers.example", fund="20.00")
    bought = flows.purchase(merchant, STOREFRONT, made.prepaid, "Song: Blue Monday", usd("0.99"))
    flows.purchase(merchant, STOREFRONT, made.prepaid, "Album: Power", usd("7.50"))
    made.refundable_purchase_id = bought.row_id

    made.due = open_postpaid(merchant, "bob@buyers.example")
    for product, price in (("Level pack", "9.99"), ("Skin", "4.99"), ("Boosters", "6.99")):
        flows.purchase(merchant, STOREFRONT, made.due, product, usd(price))
    made.owing = open_postpaid(merchant, "cleo@buyers.example")
    flows.purchase(merchant, STOREFRONT, made.owing, "Level pack", usd("4.99"))
    made.settled = open_postpaid(merchant, "dan@buyers.example")
    flows.purchase(merchant, STOREFRONT, made.settled, "Soundtrack", usd("3.00"))
    flows.write_off(merchant, SUPPORT_JOB, made.settled, usd("0.50"), "goodwill after an outage")
    settled = flows.settle(
        merchant, Actor.job("settle-due", Permission.READ, Permission.SETTLE), made.settled
    )
    made.request_id = settled.request_id
    return made


# -- hostile data: markdown and autolinks where names, emails, products, reasons and ids go -------------

EVIL = "https://evil.example"
HOSTILE_NAME = f"[Session expired - sign in]({EVIL}/login) ![x]({EVIL}/t.png)"
HOSTILE_EMAIL = f"[mail]({EVIL}/m)<{EVIL}/a>@evil.example"
HOSTILE_PRODUCT = f"![p]({EVIL}/p.png) {EVIL}/product"
HOSTILE_REASON = f"[r]({EVIL}/r) <img src={EVIL}/h.png> www.evil.example"
HOSTILE_STAFF = "www.evil.example"  # a valid user name, and a bare autolink
HOSTILE_STAFF_NAME = f"[Staff]({EVIL}/s) ![s]({EVIL}/s.png)"
HOSTILE_FPS_MESSAGE = f"[Retry here]({EVIL}/retry) ![e]({EVIL}/e.png)"
HOSTILE_QUERY = f"`[Sign in again]({EVIL}/q)` ![q]({EVIL}/q.png)"  # breaks out of backticks


@dataclass
class Hostile:
    """What `seed_hostile` made: a due postpaid instrument of a hostile customer, with a hostile product
    refundable, a write-off with a hostile reason by a hostile staff account, and a recorded FPS call whose
    answer carried a hostile message."""

    instrument: str = ""
    purchase_caller_reference: str = ""
    write_off_caller_reference: str = ""


def seed_hostile(merchant: Merchant) -> Hostile:
    seed_staff(merchant)
    add_account(merchant, HOSTILE_STAFF, "support", HOSTILE_STAFF_NAME)
    made = Hostile()
    customer = flows.ensure_customer(merchant, HOSTILE_EMAIL, HOSTILE_NAME)
    url = pipelines.start_postpaid(
        merchant, STOREFRONT, customer, usd("25.00"), usd("10.00"), journeys.RETURN_URL
    )
    back = sandbox.authorize(merchant.client.session, url, "buyer@buyers.example")
    made.instrument = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params).instrument_id
    bought = flows.purchase(merchant, STOREFRONT, made.instrument, HOSTILE_PRODUCT, usd("9.99"))
    made.purchase_caller_reference = bought.caller_reference
    flows.purchase(merchant, STOREFRONT, made.instrument, HOSTILE_PRODUCT, usd("9.99"))
    flows.purchase(merchant, STOREFRONT, made.instrument, HOSTILE_PRODUCT, usd("4.99"))
    written_off = flows.write_off(  # the debt stays due: 24.47 of 25.00
        merchant, Actor.staff(HOSTILE_STAFF, "support"), made.instrument, usd("0.50"), HOSTILE_REASON
    )
    made.write_off_caller_reference = written_off.caller_reference
    calls = ApiCall.__table__
    with merchant.engine.begin() as conn:  # its record shows an error message as a hostile processor might
        conn.execute(
            calls.update()
            .where(calls.c.caller_reference == written_off.caller_reference)
            .values(error_code="InternalError", error_message=HOSTILE_FPS_MESSAGE, fps_status="[s](x)")
        )
    return made
