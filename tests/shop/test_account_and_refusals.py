"""What the account and return pages say beyond the happy path: a first top-up whose outcome is unknown, a
refusal in its own words, a refund's reason as its code's label (never staff's note), a history that is
cut, a signed IPN applied at the shop's /ipn, and session cookies that are not the shop's refused."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta

from conftest import Browser, Served, figures, heading, hidden_fields
from helpers import refusing_inserts
from sqlalchemy import Engine, select, text

from fpscore.db import utcnow
from fpscore.merchant import flows
from fpscore.merchant.reasons import LABELS, ReasonCode
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import Funding, MerchantInstrument
from fpscore.money import Amount
from fpscore.processor import Processor
from fpscore.processor.ipn import IpnDispatcher
from fpscore.processor.keys import SigningKeys
from fpscore.processor.schema import Caller, IpnNotification
from fpscore.shop import records
from fpscore.shop.app import customer_actor
from fpscore.shop.cookies import SESSION_COOKIE, SESSION_LIFETIME

HOSTILE = "<script>alert(1)</script>&\"' staff-only note"
SUPPORT = Actor.job("support-test", Permission.REFUND)


def cheapest(served: Served) -> int:
    return next(song.id for song in records.products(served.shop.merchant.engine) if song.price_cents == 99)


def failing_transactions(engine: Engine) -> AbstractContextManager[None]:
    """The processor's database refuses to store transactions while inside: no Pay or funding is made, and
    the processor answers with a fault (the outcome unknown to its caller)."""
    return refusing_inserts(engine, "transactions", "disk on fire", "53100")


def test_a_first_top_up_without_an_answer_is_shown_waiting_not_refused(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    back = browser.authorize(browser.start("/prepay", "pack", "10.00"), "ada@buyers.example")
    with failing_transactions(served.shop.merchant.processor_engine):
        page = browser.come_back(back)
    assert page.status_code == 200 and heading(page.text) == "Your prepaid balance is ready"
    assert 'id="funding-waiting"' in page.text and "waiting for the payment service's answer" in page.text
    assert "was not made" not in page.text
    with served.shop.merchant.engine.connect() as conn:
        funding = conn.execute(select(Funding.__table__)).one()
    assert funding.status == "Requested" and funding.error_code is not None


def test_a_refusal_is_shown_in_its_own_words(served):
    browser = Browser(served.url)
    browser.sign_up("grace@buyers.example", "Grace")
    browser.come_back(browser.authorize(browser.start("/paylater", "limit", "5.00"), "grace@buyers.example"))
    browser.buy(cheapest(served))
    first = hidden_fields(browser.get("/account").text, "/settle")
    second = hidden_fields(browser.get("/account").text, "/settle")  # the page again: another form
    assert first["submission"] != second["submission"]
    settled = browser.session.post(served.url + "/settle", data=first, timeout=60)
    assert "You paid 0.99" in settled.text
    nothing = browser.session.post(served.url + "/settle", data=second, timeout=60)
    assert nothing.status_code == 409 and "Nothing was done: there is no debt to settle" in nothing.text


def test_a_refund_shows_its_reason_label_never_staffs_note(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    browser.come_back(browser.authorize(browser.start("/prepay", "pack", "10.00"), "ada@buyers.example"))
    browser.buy(cheapest(served))
    merchant = served.shop.merchant
    with merchant.engine.connect() as conn:
        (purchase_id,) = conn.execute(text("SELECT id FROM purchases")).one()
    flows.refund_purchase(merchant, SUPPORT, purchase_id, HOSTILE, code=ReasonCode.GOODWILL)
    page = browser.get("/account").text
    refunds = page.split('id="refunds"')[1].split("</table>")[0]
    assert f"<td>{LABELS[ReasonCode.GOODWILL]}</td>" in refunds
    assert "staff-only note" not in page and "<script>" not in page
    assert figures(page, "balance") == ["10.00"]


def test_a_long_history_says_it_is_cut(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    browser.come_back(browser.authorize(browser.start("/prepay", "pack", "20.00"), "ada@buyers.example"))
    merchant = served.shop.merchant
    with merchant.engine.connect() as conn:
        instrument = conn.execute(select(MerchantInstrument.__table__)).one()
    actor = customer_actor(instrument.customer_id)
    flows.fund(merchant, actor, instrument.id, Amount.parse("40.00"))
    for number in range(records.HISTORY_ROWS + 1):
        flows.purchase(merchant, actor, instrument.id, f"Song {number}", Amount.parse("0.99"))
    page = browser.get("/account").text
    purchases = page.split('id="purchases"')[1].split("</table>")[0]
    assert purchases.count("<tr><td>") == records.HISTORY_ROWS and "Song 0<" not in purchases
    assert f"Only your latest {records.HISTORY_ROWS} purchases are listed." in page
    assert 'id="payments-cut"' not in page and 'id="refunds-cut"' not in page


def test_a_signed_ipn_is_applied_at_the_shops_ipn_endpoint(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    browser.come_back(browser.authorize(browser.start("/prepay", "pack", "10.00"), "ada@buyers.example"))
    merchant = served.shop.merchant
    with merchant.processor_engine.connect() as conn:
        caller_id = conn.execute(select(Caller.__table__.c.id)).scalar_one()
    with merchant.engine.connect() as conn:
        token_id = conn.execute(select(MerchantInstrument.__table__.c.sender_token_id)).scalar_one()
    processor = Processor(merchant.processor_engine, merchant.fee_schedule, merchant.clock)
    processor.set_ipn_url(caller_id, served.url + "/ipn")
    processor.cancel_token(caller_id, token_id, "card lost")  # the processor tells the shop by IPN
    dispatcher = IpnDispatcher(
        merchant.processor_engine, SigningKeys(merchant.processor_engine), merchant.client.endpoint
    )
    assert dispatcher.deliver_due() == 1
    with merchant.processor_engine.connect() as conn:
        delivered = conn.execute(select(IpnNotification.__table__)).one()
    with merchant.engine.connect() as conn:
        status = conn.execute(select(MerchantInstrument.__table__.c.status)).scalar_one()
    assert delivered.delivered_at is not None and status == "Cancelled"
    account = browser.get("/account").text
    assert 'id="prepaid-balance"' not in account  # the cancelled balance is no longer offered to spend


def test_a_session_cookie_not_the_shops_is_refused(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    genuine = browser.session.cookies[SESSION_COOKIE]
    customer_id, issued, mac = genuine.split(".")
    signer = served.shop.signer
    old = signer.session(int(customer_id), utcnow() - SESSION_LIFETIME - timedelta(minutes=1))
    seconds = f"{customer_id}.{int(issued) // 1_000_000}"  # issued in whole seconds, as before microseconds
    for cookie in (
        f"{int(customer_id) + 1}.{issued}.{mac}",  # another customer named
        f"{customer_id}.{int(issued) + 3_600_000_000}.{mac}",  # signed in later than it was
        f"{customer_id}.{issued}.{mac[::-1]}",  # signature tampered
        old,  # expired
        f"{seconds}.{signer.signature('session', seconds)}",  # read as issued in 1970: expired
    ):
        stranger = Browser(served.url)
        stranger.session.cookies.set(SESSION_COOKIE, cookie)
        answer = stranger.get("/account", allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/signin?")
    browser.session.cookies.set(SESSION_COOKIE, genuine)
    assert browser.get("/account", allow_redirects=False).status_code == 200
