"""The storefront over real HTTP on loopback: every page, every Co-Branded UI return status, a tampered and
a replayed return, CSRF, a signed-out customer, hostile names and titles, the mounted CBUI and
certificate routes, the IPN endpoint, and `fpscore shop` itself on gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from conftest import PASSWORD, Browser, Served, figures, heading
from helpers import free_port
from markupsafe import escape
from sqlalchemy import func, insert, select

from fpscore.merchant.schema import (
    AuditEvent,
    Funding,
    MerchantInstrument,
    Purchase,
    ShopProduct,
    TokenReference,
)
from fpscore.processor.keys import SigningKeys
from fpscore.shop import accounts, records

HOSTILE = "<script>alert(1)</script>&\"'"


def cheapest(served: Served) -> int:
    """A song at 0.99."""
    return next(song.id for song in records.products(served.shop.merchant.engine) if song.price_cents == 99)


def count(served: Served, model: type) -> int:
    with served.shop.merchant.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def prepaid_customer(served: Served, email: str = "ada@buyers.example") -> Browser:
    """A customer who signed up and prepaid 10.00 through the co-branded pages."""
    browser = Browser(served.url)
    browser.sign_up(email, "Ada")
    back = browser.authorize(browser.start("/prepay", "pack", "10.00"), email)
    assert browser.come_back(back).status_code == 200
    return browser


def test_catalogue_lists_songs_and_asks_a_visitor_to_sign_in(served):
    page = requests.get(served.url + "/", timeout=30)
    assert page.status_code == 200
    assert (
        page.headers["X-Frame-Options"] == "DENY"
        and "form-action 'self'" in page.headers["Content-Security-Policy"]
    )
    songs = records.products(served.shop.merchant.engine)
    assert len(songs) >= 30 and {song.price_cents for song in songs} == {99, 129}
    assert all(str(escape(song.title)) in page.text for song in songs)
    assert 'action="/buy"' not in page.text and "Sign up" in page.text


def test_a_signed_out_customer_is_sent_to_sign_in_and_back(served):
    browser = Browser(served.url)
    answer = browser.get("/account", allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/signin?next=%2Faccount&notice=sign_in_first"
    page = browser.get(answer.headers["Location"])
    assert "Sign in to continue." in page.text
    bought = browser.post("/buy", {"product": str(cheapest(served))}, follow=False)
    assert bought.status_code == 303 and bought.headers["Location"].startswith("/signin?")
    assert count(served, Purchase) == 0
    accounts.sign_up(served.shop.merchant, "ada@buyers.example", "Ada", PASSWORD)
    browser.get("/signin?next=/account")
    signed_in = browser.post(
        "/signin", {"email": "ADA@buyers.example", "password": PASSWORD, "next": "/account"}
    )
    assert signed_in.url == served.url + "/account" and heading(signed_in.text) == "Your account"
    browser.post("/signout", {})
    assert browser.get("/account", allow_redirects=False).status_code == 303


def test_sign_up_refusals_and_a_hostile_name(served):
    browser = Browser(served.url)
    browser.get("/signup")
    short = browser.post("/signup", {"email": "ada@buyers.example", "name": "Ada", "password": "short"})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    page = browser.sign_up("mallory@buyers.example", HOSTILE)
    assert page.url.endswith("/account?notice=signed_up")
    assert HOSTILE not in page.text and str(escape(HOSTILE)) in page.text
    again = Browser(served.url)
    taken = again.sign_up("Mallory@buyers.example", "M")
    assert taken.status_code == 400 and "already" in taken.text


def test_sign_in_is_throttled_before_the_password_is_checked(served):
    accounts.sign_up(served.shop.merchant, "ada@buyers.example", "Ada", PASSWORD)
    browser = Browser(served.url)
    for _attempt in range(accounts.LIMITS.per_account_and_client):
        browser.get("/signin")
        wrong = browser.post("/signin", {"email": "ada@buyers.example", "password": "not the password"})
        assert wrong.status_code == 403 and str(escape(accounts.REFUSED)) in wrong.text
    browser.get("/signin")
    locked = browser.post("/signin", {"email": "ada@buyers.example", "password": PASSWORD})
    assert locked.status_code == 403 and "shop_session" not in browser.session.cookies
    with served.shop.merchant.engine.connect() as conn:
        reasons = conn.execute(
            select(AuditEvent.__table__.c.detail).where(AuditEvent.action == "shop_sign_in")
        )
        assert any("too many failed sign-ins" in reason for (reason,) in reasons)


def test_csrf_and_foreign_origins_are_refused(served):
    browser = prepaid_customer(served)
    product = {"product": str(cheapest(served))}
    no_token = browser.session.post(served.url + "/buy", data=product, timeout=30)
    forged = browser.session.post(served.url + "/buy", data={**product, "csrf": "x" * 43}, timeout=30)
    browser.get("/")
    foreign = browser.session.post(
        served.url + "/buy", data={**product, "csrf": browser.page.split('name="csrf" value="')[1][:43]},
        headers={"Origin": "http://evil.example"}, timeout=30,
    )  # fmt: skip
    stranger = requests.post(served.url + "/buy", data={**product, "csrf": "x"}, timeout=30)
    for answer in (no_token, forged, foreign, stranger):
        assert answer.status_code == 403 and "nothing was done" in answer.text
    assert count(served, Purchase) == 0


def test_prepay_then_buy_three_songs_and_be_refused_with_a_top_up_offered(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    start = browser.start("/prepay", "pack", "10.00")
    assert start.startswith(served.url + "/cobranded-ui/actions/start?")  # on the shop's own host
    back = browser.authorize(start, "ada@buyers.example")
    assert back.url_endpoint == served.url + "/return" and back.params["status"] == "SC"
    page = browser.come_back(back)
    assert heading(page.text) == "Your prepaid balance is ready" and figures(page.text, "balance") == [
        "10.00"
    ]
    song = cheapest(served)
    for left in ("9.01", "8.02", "7.03"):
        page = browser.buy(song)
        assert "You bought" in page.text and figures(page.text, "balance") == [left]
    account = browser.get("/account")
    assert figures(account.text, "balance") == ["7.03"] and account.text.count("Bought") == 3
    # Spend the rest, then one more is refused by the processor and explained, with top-ups offered.
    for _song in range(7):
        browser.buy(song)
    refused = browser.buy(song)
    assert (
        "Not bought" in refused.text and "Your prepaid balance (0.10) is less than its price" in refused.text
    )
    assert 'action="/prepay"' in refused.text
    with served.shop.merchant.engine.connect() as conn:
        codes = conn.execute(select(Purchase.__table__.c.error_code).where(Purchase.status == "Failure"))
        assert [code for (code,) in codes] == ["InsufficientBalance"]
    topped = browser.post("/prepay", {"pack": "5.00"})
    assert "Added 5.00" in topped.text and set(figures(topped.text, "balance")) == {"5.10"}


def test_a_replayed_return_shows_the_same_outcome_and_funds_once(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    back = browser.authorize(browser.start("/prepay", "pack", "10.00"), "ada@buyers.example")
    first = browser.come_back(back)
    again = browser.come_back(back)
    elsewhere = requests.get(back.url_endpoint, params=back.params, timeout=30)  # another browser, same URL
    for page in (first, again, elsewhere):
        assert page.status_code == 200 and figures(page.text, "balance") == ["10.00"]
    assert count(served, Funding) == 1 and count(served, MerchantInstrument) == 1


def _signed(served: Served, params: dict[str, str]) -> dict[str, str]:
    """`params` signed with the processor's own key, as it signs the returns it sends."""
    key_id, key = SigningKeys(served.shop.merchant.processor_engine).current()
    unsigned = {name: value for name, value in params.items() if name != "signature"}
    unsigned["certificateUrl"] = f"{served.shop.merchant.client.endpoint}certs/{key_id}/PKICert.pem"
    signature = key.sign_outbound(unsigned, method="GET", url_endpoint=served.url + "/return")
    return {**unsigned, "signature": signature}


def test_a_tampered_return_is_refused_and_stores_nothing(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    back = browser.authorize(browser.start("/prepay", "pack", "10.00"), "ada@buyers.example")
    for tampered in (
        {**back.params, "prepaidInstrumentID": "PI-someone-else"},
        {**back.params, "status": "A"},
        {**back.params, "signature": back.params["signature"][::-1]},
    ):
        page = browser.session.get(back.url_endpoint, params=tampered, timeout=30)
        assert page.status_code == 400 and "could not be accepted" in page.text
    assert count(served, MerchantInstrument) == 0 and count(served, Funding) == 0
    # A return the processor signed for an ended round trip, but not the one that ended it, is refused too.
    assert browser.come_back(back).status_code == 200
    cancelled = {name: value for name, value in back.params.items() if not name.endswith("ID")}
    refused = browser.session.get(back.url_endpoint, params=_signed(served, {**cancelled, "status": "A"}))
    assert refused.status_code == 400 and count(served, MerchantInstrument) == 1


def test_the_customer_cancels_on_the_cobranded_pages(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    back = browser.authorize(browser.start("/paylater", "limit", "5.00"), "ada@buyers.example", confirm=False)
    page = browser.come_back(back)
    assert back.params["status"] == "A" and heading(page.text) == "You cancelled"
    assert "Nothing was set up or charged" in page.text and count(served, MerchantInstrument) == 0


@pytest.mark.parametrize(
    ("status", "outcome", "says"),
    [
        ("SE", "Started", "temporary problem"),
        ("CE", "Failed", "could not accept this shop's request: Caller Input Exception"),
        ("PE", "Failed", "payment method you chose cannot be used"),
        ("NP", "Failed", "did not permit this authorization: Caller Input Exception"),
        ("NM", "Failed", "not registered with the payment service"),
        ("XY", "Failed", "The payment service answered XY"),
    ],
)
def test_every_other_return_status_says_what_happened(served, status, outcome, says):
    """Statuses the embedded processor sends only on faults (SE) or never (the others), signed by it."""
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    start = dict(parse_qsl(urlsplit(browser.start("/prepay", "pack", "10.00")).query))
    params = {
        "tokenReference": start["callerReferenceSender"],
        "status": status,
        "errorMessage": "Caller Input Exception",
        "callerKey": "AKIDSHOP",
        "callerReference": start["callerReferenceSender"],
        "signatureVersion": "2",
        "signatureMethod": "RSA-SHA1",
    }
    page = browser.session.get(served.url + "/return", params=_signed(served, params), timeout=30)
    assert page.status_code == 200 and says in page.text and "Nothing was" in page.text
    with served.shop.merchant.engine.connect() as conn:
        assert conn.execute(select(TokenReference.__table__.c.status)).scalar_one() == outcome
    assert count(served, Funding) == 0


def test_pay_later_until_refused_then_settle(served):
    browser = Browser(served.url)
    browser.sign_up("grace@buyers.example", "Grace")
    page = browser.come_back(
        browser.authorize(browser.start("/paylater", "limit", "5.00"), "grace@buyers.example")
    )
    assert heading(page.text) == "Your Pay later account is ready"
    song = cheapest(served)
    for owed in ("0.99", "1.98", "2.97", "3.96", "4.95"):
        assert figures(browser.buy(song).text, "debt") == [owed]
    refused = browser.buy(song)
    assert "would take what you owe (4.95) above your credit limit of 5.00" in refused.text
    assert 'action="/settle"' in refused.text
    settled = browser.post("/settle", {})
    assert "You paid 4.95" in settled.text and 'id="debt-settled"' in settled.text
    assert ": settled." in settled.text and "Paid what you owed" in settled.text
    assert figures(browser.buy(song).text, "debt") == ["0.99"]


def test_hostile_titles_are_escaped_on_every_page(served):
    with served.shop.merchant.engine.begin() as conn:
        product_id = conn.execute(
            insert(ShopProduct.__table__)
            .values(title=HOSTILE, artist=HOSTILE, price_cents=99, currency="USD")
            .returning(ShopProduct.__table__.c.id)
        ).scalar_one()
    browser = prepaid_customer(served)
    for page in (browser.get("/").text, browser.buy(product_id).text, browser.get("/account").text):
        assert HOSTILE not in page and str(escape(HOSTILE)) in page


def test_the_embedded_processor_is_reachable_and_the_ipn_endpoint_verifies(served):
    key_id, _key = SigningKeys(served.shop.merchant.processor_engine).current()
    certificate = requests.get(f"{served.url}/certs/{key_id}/PKICert.pem", timeout=30)
    assert certificate.status_code == 200 and b"BEGIN CERTIFICATE" in certificate.content
    assert requests.get(served.url + "/ipn", timeout=30).status_code == 405
    forged = requests.post(served.url + "/ipn", data={"notificationType": "TransactionStatus"}, timeout=30)
    assert forged.status_code == 403
    assert requests.get(served.url + "/nowhere", timeout=30).status_code == 404


def test_fpscore_shop_serves_on_gunicorn(settings, tmp_path):
    port = free_port()
    env = {**os.environ, "FPS_DATA_DIR": str(settings.data_dir), "FPS_SHOP_PORT": str(port)}
    with (tmp_path / "shop.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fpscore.cli", "shop"], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except requests.ConnectionError:
                    assert process.poll() is None and time.monotonic() < deadline, (
                        tmp_path / "shop.log"
                    ).read_text()
                    time.sleep(0.2)
            assert page.status_code == 200 and "Paper Lanterns" in page.text
            assert (settings.data_dir / "shop-session.key").stat().st_mode & 0o777 == 0o600
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=40)
    assert f"storefront at http://127.0.0.1:{port}/" in (tmp_path / "shop.log").read_text()
