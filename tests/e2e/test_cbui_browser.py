"""The Co-Branded UI in a real browser (Playwright + Debian Chromium), as a buyer walks it.

The processor and a tiny merchant endpoint (the returnURL, which records what it receives) each run on a
loopback port. Every page is photographed into artifacts/screenshots/cbui/. The final redirect must carry
tokens whose signature verifies locally and through the query API's VerifySignature. This also proves what
only a browser checks: the session cookie and Origin survive, and the CSP `form-action` lets the confirm
post be redirected to the merchant's origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
import requests
from browser import needs_chromium
from helpers import serve

from fpscore.processor import Processor
from fpscore.processor.app import make_app
from fpscore.signing import sign_query, verify_outbound
from fpscore.wire import parse_response

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots" / "cbui"
START = "/cobranded-ui/actions/start"
CALLER_KEY, CALLER_SECRET = "AKIDCALLER", "caller-secret"  # the root conftest's `caller_id`

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium


@pytest.fixture
def backend() -> str:
    return "sqlite"


class Merchant:
    """The merchant's return page: records each query it receives and thanks the buyer."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str]]] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] != "/fps/return":  # the browser asks for /favicon.ico too
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found"]
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        self.received.append((environ["PATH_INFO"], params))
        rows = "".join(f"<tr><th>{name}</th><td>{value[:24]}</td></tr>" for name, value in params.items())
        body = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Tune Shop</title></head>"
            "<body style='font-family:system-ui;margin:2rem'><h1>Back at Tune Shop</h1>"
            f"<p>Status: <strong>{params.get('status', '?')}</strong></p><table>{rows}</table></body></html>"
        ).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]


@pytest.fixture
def servers(processor: Processor, caller_id: int) -> Iterator[tuple[str, str, Merchant]]:
    """(processor URL, merchant URL, merchant)."""
    merchant = Merchant()
    processor_url, stop_processor = serve(make_app(processor))
    merchant_url, stop_merchant = serve(merchant)
    yield processor_url, merchant_url, merchant
    stop_merchant()
    stop_processor()


@pytest.fixture
def page(chromium):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 820, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _start_url(processor_url: str, merchant_url: str, **params: str) -> str:
    unsigned = {
        "callerKey": CALLER_KEY,
        "pipelineName": "SetupPrepaid",
        "returnURL": f"{merchant_url}/fps/return?order=42",
        "version": "2009-01-09",
        "signatureVersion": "2",
        **params,
    }
    signed = sign_query(
        unsigned,
        CALLER_SECRET,
        host="127.0.0.1",
        path=START,
        signature_key="signature",
        signature_method_key="signatureMethod",
    )
    return f"{processor_url}{START}?{urlencode(signed, quote_via=quote)}"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _verified(processor_url: str, merchant_url: str, params: dict[str, str]) -> bool:
    """Whether the returned params verify locally and through the query API's (unsigned) VerifySignature."""
    endpoint = f"{merchant_url}/fps/return"
    pem = requests.get(params["certificateUrl"], timeout=10).content
    local = verify_outbound(params, method="GET", url_endpoint=endpoint, certificate_pem=pem)
    query = {
        "Action": "VerifySignature",
        "Version": "2010-08-28",
        "UrlEndPoint": endpoint,
        "HttpParameters": urlencode(params),
    }
    response = requests.get(f"{processor_url}/", params=query, timeout=10)
    _action, result, _request_id = parse_response(response.content)
    assert result is not None
    return local and result.findtext("VerificationStatus") == "Success"


def test_buyer_sets_up_a_prepaid_balance(page, servers, processor, caller_id):  # type: ignore[no-untyped-def]
    processor_url, merchant_url, merchant = servers
    url = _start_url(
        processor_url,
        merchant_url,
        callerReferenceSender="order-42-sender",
        callerReferenceFunding="order-42-funding",
        fundingAmount="25.00",
        validityExpiry="2099-12-31",
        paymentReason=(
            "Prepaid songs: <b>any track</b> for <i>$0.99</i><ul><li>no fee per song<li>top up any time</ul>"
        ),
    )
    page.goto(url)
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Tune Shop")
    _shot(page, "prepaid-1-sign-in")

    page.get_by_label("E-mail address").fill("ada@buyers.example")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_role("button", name="Continue").click()
    sync_api.expect(page.get_by_role("heading", name="Review and confirm")).to_be_visible()
    sync_api.expect(page.locator(".reason li")).to_have_count(2)
    _shot(page, "prepaid-2-confirm")

    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{merchant_url}/fps/return?**")
    _shot(page, "prepaid-3-returned")
    path, params = merchant.received[-1]
    assert path == "/fps/return" and params["order"] == "42"
    assert params["status"] == "SC" and params["expiry"] == "12/2099"
    assert (params["callerKey"], params["callerReference"]) == (CALLER_KEY, "order-42-sender")
    assert _verified(processor_url, merchant_url, params)
    assert not _verified(processor_url, merchant_url, {**params, "status": "SA"})
    tokens = {token.token_id for token in processor.get_tokens(caller_id)}
    assert tokens == {params["fundingTokenID"], params["prepaidSenderTokenID"]}
    balance = processor.get_prepaid_balance(caller_id, params["prepaidInstrumentID"])
    assert balance.available.cents == 0


def test_buyer_opens_a_credit_line_after_a_typo(page, servers, processor, caller_id):  # type: ignore[no-untyped-def]
    processor_url, merchant_url, merchant = servers
    url = _start_url(
        processor_url,
        merchant_url,
        pipelineName="SetupPostpaid",
        callerReferenceSender="tab-7-sender",
        callerReferenceSettlement="tab-7-settlement",
        creditLimit="50.00",
        globalAmountLimit="20.00",
        paymentMethod="ACH,CC",
        paymentReason="Your Tune Shop tab: buy now, pay at the end of the month.",
    )
    page.goto(url)
    page.get_by_label("E-mail address").fill("grace@nowhere")  # the browser takes it; the processor does not
    page.get_by_role("button", name="Continue").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("valid e-mail address")
    _shot(page, "postpaid-1-sign-in-error")

    page.get_by_label("E-mail address").fill("grace@buyers.example")
    page.get_by_role("button", name="Continue").click()
    sync_api.expect(page.get_by_text("Largest single purchase")).to_be_visible()
    _shot(page, "postpaid-2-confirm")

    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{merchant_url}/fps/return?**")
    _path, params = merchant.received[-1]
    assert params["status"] == "SB" and "expiry" not in params
    ids = ("creditInstrumentID", "creditSenderTokenID", "settlementTokenID")
    assert set(ids) <= params.keys()
    assert _verified(processor_url, merchant_url, params)

    # Back to the confirmation page (a POST answer, not stored: the browser offers to resubmit), and
    # reload to resubmit the sign-in: the round trip has ended, so the page says so and offers nothing.
    response = _resubmit_previous(page)
    assert response is not None and response.status == 400
    sync_api.expect(page.get_by_role("alert")).to_contain_text("already ended")
    sync_api.expect(page.get_by_role("button")).to_have_count(0)
    _shot(page, "postpaid-3-ended")
    assert len(merchant.received) == 1 and len(processor.get_tokens(caller_id)) == 2


def _resubmit_previous(page):  # type: ignore[no-untyped-def]
    """Go back to a page that answered a POST and reload it, as a buyer confirming the resubmission; the
    reload's response."""
    try:
        page.go_back(wait_until="commit")
    except sync_api.Error as exc:  # Chromium shows ERR_CACHE_MISS: the page was not stored (no-store)
        assert "ERR_CACHE_MISS" in exc.message
    for _ in range(20):
        try:
            response = page.reload()
        except sync_api.Error:  # the error page is still being attached
            response = None
        if response is not None:
            return response
        page.wait_for_timeout(100)  # or it reloaded the error page itself, not the form's request yet
    raise AssertionError("could not reload the page to resubmit its form")


def test_cancel_and_a_bad_start_request(page, servers, processor, caller_id):  # type: ignore[no-untyped-def]
    processor_url, merchant_url, merchant = servers
    url = _start_url(
        processor_url,
        merchant_url,
        callerReferenceSender="s-1",
        callerReferenceFunding="f-1",
        fundingAmount="5",
    )
    page.goto(url)
    page.get_by_role("button", name="Cancel").click()  # cancels without an e-mail address
    page.wait_for_url(f"{merchant_url}/fps/return?**")
    _path, params = merchant.received[-1]
    assert params["status"] == "A" and _verified(processor_url, merchant_url, params)

    bad = _start_url(processor_url, merchant_url, callerReferenceSender="s-2", fundingAmount="five dollars")
    response = page.goto(bad)
    assert response is not None and response.status == 400
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Caller Input Exception")
    _shot(page, "error-caller-input")
    assert processor.get_tokens(caller_id) == []
