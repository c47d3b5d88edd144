"""The Co-Branded UI over real HTTP, driven as a browser without JavaScript would: plain GETs and form posts.

Each round trip starts from a start URL signed here as merchants sign it, follows the pages, and checks the
redirect to the returnURL: its RSA signature, verified locally with the certificate at certificateUrl and by
the query API's VerifySignature, and the tokens it carries, used through the query API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import pytest
import requests
from fpshttp import BOTH_BACKENDS, CALLER_KEY, CALLER_SECRET, amount, expect_error, ledger_state
from helpers import failing_token_inserts, ref, serve, usd

from fpscore import sandbox
from fpscore.merchant.client import FpsClient as MerchantClient
from fpscore.processor.app import make_app
from fpscore.signing import sign_query, verify_outbound
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH

START = "/cobranded-ui/actions/start"
RETURN_URL = "https://shop.example/fps/return?order=17"
RETURN_ENDPOINT = "https://shop.example/fps/return"
PREPAID_IDS = {"fundingTokenID", "prepaidInstrumentID", "prepaidSenderTokenID"}
POSTPAID_IDS = {"creditInstrumentID", "creditSenderTokenID", "settlementTokenID"}


def start_query(
    pipeline: str = "SetupPrepaid",
    *,
    secret: str = CALLER_SECRET,
    host: str = "127.0.0.1",
    signature_method: str = "HmacSHA256",
    omit: tuple[str, ...] = (),
    tamper: dict[str, str | None] | None = None,
    **params: str,
) -> dict[str, str]:
    """Signed start parameters: `omit` is left out before signing; `tamper` changes (None: drops) after."""
    if pipeline == "SetupPostpaid":
        terms = {
            "callerReferenceSettlement": ref("settlement"),
            "creditLimit": "50.00",
            "globalAmountLimit": "20.00",
        }
    else:
        terms = {"callerReferenceFunding": ref("funding"), "fundingAmount": "25.00"}
    unsigned = {
        "callerKey": CALLER_KEY,
        "pipelineName": pipeline,
        "returnURL": RETURN_URL,
        "version": "2009-01-09",
        "signatureVersion": "2",
        "callerReferenceSender": ref("sender"),
        **terms,
        **params,
    }
    unsigned = {name: value for name, value in unsigned.items() if name not in omit}
    signed = sign_query(
        unsigned,
        secret,
        host=host,
        path=START,
        signature_method=signature_method,
        signature_key="signature",
        signature_method_key="signatureMethod",
    )
    for name, value in (tamper or {}).items():
        if value is None:
            signed.pop(name, None)
        else:
            signed[name] = value
    return signed


def start_url(base_url: str, pipeline: str = "SetupPrepaid", **kwargs) -> str:
    return f"{base_url}{START}?{urlencode(start_query(pipeline, **kwargs), quote_via=quote)}"


class _Dom(HTMLParser):
    """What a browser builds of a page: every element with its attributes, and the text it shows."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data

    def attribute(self, tag: str, name: str, value: str) -> dict[str, str | None]:
        """The one `tag` element whose attribute `name` is `value`: its attributes."""
        [attributes] = [a for t, a in self.elements if t == tag and a.get(name) == value]
        return attributes


class Browser:
    """A buyer's browser without JavaScript: a cookie jar, GETs, and form posts with a chosen button."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def open(self, url: str) -> requests.Response:
        return self.session.get(url, allow_redirects=False, timeout=10)

    def submit(self, page: requests.Response, decision: str, **fields: str) -> requests.Response:
        [form] = sandbox.forms(page.text)
        assert form.method == "post"
        data = {**form.fields, "decision": decision, **fields}
        return self.session.post(urljoin(page.url, form.action), data=data, allow_redirects=False, timeout=10)

    def sign_in(self, page: requests.Response, email: str = "ada@buyers.example", **fields: str):
        return self.submit(page, "continue", email=email, **fields)


def returned(response: requests.Response) -> tuple[str, dict[str, str]]:
    """The redirect to the returnURL: (the endpoint without query, its parameters)."""
    assert response.status_code == 302, response.text
    assert response.headers["Cache-Control"] == "no-store"
    parts = urlsplit(response.headers["Location"])
    endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    assert len(params) == len(pairs)
    return endpoint, params


def verifications(fps, endpoint: str, params: dict[str, str]) -> tuple[bool, bool]:
    """(verified locally with the certificate at certificateUrl, verified by the API's VerifySignature)."""
    certificate = fps.session.get(params["certificateUrl"], timeout=10)
    assert certificate.status_code == 200
    local = verify_outbound(params, method="GET", url_endpoint=endpoint, certificate_pem=certificate.content)
    result = fps.ok("VerifySignature", UrlEndPoint=endpoint, HttpParameters=urlencode(params))
    return local, result.findtext("VerificationStatus") == "Success"


def assert_signed(fps, base_url: str, endpoint: str, params: dict[str, str]) -> None:
    assert params["signatureVersion"] == "2" and params["signatureMethod"] == "RSA-SHA1"
    assert params["certificateUrl"].startswith(f"{base_url}/certs/")
    assert verifications(fps, endpoint, params) == (True, True)
    for name, value in (("status", "SB"), ("order", "18"), ("expiry", "12/2098")):
        assert verifications(fps, endpoint, {**params, name: value}) == (False, False), name
    assert verifications(fps, "https://evil.example/fps/return", params) == (False, False)


def assert_page(response: requests.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'unsafe-inline';")
    assert "script" not in policy and "<script" not in response.text.lower()
    return response.text


def test_prepaid_round_trip(fps, processor, caller_id, base_url, clock):
    expiry = int((clock() + timedelta(days=400)).timestamp())
    reason = "Songs <b>on demand</b>,\r\n\tby the track"  # a reason may span lines
    query = start_query(paymentReason=reason, validityExpiry=str(expiry))
    browser = Browser()
    sign_in = browser.open(f"{base_url}{START}?{urlencode(query, quote_via=quote)}")
    html = assert_page(sign_in)
    assert "Tune Shop" in html and "$25.00" in html and 'type="email"' in html
    assert "form-action 'self' https://shop.example" in sign_in.headers["Content-Security-Policy"]
    assert "HttpOnly" in sign_in.headers["Set-Cookie"] and "SameSite=Lax" in sign_in.headers["Set-Cookie"]

    confirm = browser.sign_in(sign_in, name="Ada Lovelace")
    html = assert_page(confirm)
    for shown in ("Tune Shop", "Maximum prepaid balance", "$25.00", "Credit card", "ada@buyers.example"):
        assert shown in html, shown
    assert "Songs <b>on demand</b>,\r\n\tby the track" in html
    assert processor.get_tokens(caller_id) == []  # nothing issued before the buyer confirms

    endpoint, params = returned(browser.submit(confirm, "confirm"))
    assert endpoint == RETURN_ENDPOINT
    assert params["order"] == "17" and params["status"] == "SC"
    assert PREPAID_IDS <= params.keys() and params["callerReference"] == query["callerReferenceSender"]
    assert params["expiry"] == (clock() + timedelta(days=400)).strftime("%m/%Y")
    assert_signed(fps, base_url, endpoint, params)

    tokens = {token.token_id: token for token in processor.get_tokens(caller_id)}
    assert tokens.keys() == {params["fundingTokenID"], params["prepaidSenderTokenID"]}
    assert tokens[params["fundingTokenID"]].caller_reference == query["callerReferenceFunding"]
    assert tokens[params["fundingTokenID"]].payment_reason == reason
    fps.ok(
        "FundPrepaid",
        SenderTokenId=params["fundingTokenID"],
        PrepaidInstrumentId=params["prepaidInstrumentID"],
        CallerReference=ref(),
        **amount("FundingAmount", "20.00"),
    )
    fps.ok(
        "Pay",
        SenderTokenId=params["prepaidSenderTokenID"],
        CallerReference=ref(),
        **amount("TransactionAmount", "1.50"),
    )
    assert processor.get_prepaid_balance(caller_id, params["prepaidInstrumentID"]).available == usd("18.50")


def test_postpaid_round_trip(fps, processor, caller_id, base_url):
    query = start_query("SetupPostpaid", paymentMethod="ABT,CC", validityExpiry="2099-01-31")
    browser = Browser()
    sign_in = browser.open(f"{base_url}{START}?{urlencode(query, quote_via=quote)}")
    confirm = browser.sign_in(sign_in)
    html = assert_page(confirm)
    for shown in ("Credit limit", "$50.00", "Largest single purchase", "$20.00", "Payments account balance"):
        assert shown in html, shown
    assert "31 Jan 2099" in html

    endpoint, params = returned(browser.submit(confirm, "confirm"))
    assert params["status"] == "SA" and params["expiry"] == "01/2099"
    assert params["callerKey"] == CALLER_KEY and params["callerReference"] == query["callerReferenceSender"]
    assert POSTPAID_IDS <= params.keys() and not PREPAID_IDS & params.keys()
    assert_signed(fps, base_url, endpoint, params)

    fps.ok(
        "Pay",
        SenderTokenId=params["creditSenderTokenID"],
        CallerReference=ref(),
        **amount("TransactionAmount", "20.00"),
    )
    refused = fps.call(
        "Pay",
        SenderTokenId=params["creditSenderTokenID"],
        CallerReference=ref(),
        **amount("TransactionAmount", "20.01"),
    )
    assert refused.status_code == 400 and b"AmountOutOfRange" in refused.content
    fps.ok(
        "SettleDebt",
        SenderTokenId=params["settlementTokenID"],
        CreditInstrumentId=params["creditInstrumentID"],
        CallerReference=ref(),
        **amount("SettlementAmount", "20.00"),
    )
    assert processor.get_debt_balance(caller_id, params["creditInstrumentID"]).available.cents == 0
    [token] = processor.get_tokens(caller_id, caller_reference=query["callerReferenceSettlement"])
    assert token.token_id == params["settlementTokenID"]


def _multibyte_reference(prefix: str, characters: int) -> str:
    """A fresh CallerReference of `characters` characters, most of them 2, 3 and 4 bytes long in UTF-8."""
    head = f"{ref(prefix)}-"
    return head + ("é€𝄞" * characters)[: characters - len(head)]


@BOTH_BACKENDS
def test_a_multibyte_caller_reference_counts_characters_alike_in_the_api_and_the_cbui(
    fps, processor, caller_id, base_url
):
    limit = CALLER_REFERENCE_LENGTH
    at_limit = {name: _multibyte_reference(name, limit) for name in ("sender", "funding", "pay")}
    assert all(len(value.encode()) > 2 * limit for value in at_limit.values())
    browser = Browser()
    query = start_query(callerReferenceSender=at_limit["sender"], callerReferenceFunding=at_limit["funding"])
    confirm = browser.sign_in(browser.open(f"{base_url}{START}?{urlencode(query, quote_via=quote)}"))
    _, params = returned(browser.submit(confirm, "confirm"))
    assert params["status"] == "SC" and params["callerReference"] == at_limit["sender"]
    [funding] = processor.get_tokens(caller_id, caller_reference=at_limit["funding"])
    assert funding.token_id == params["fundingTokenID"]
    fps.ok(
        "FundPrepaid",
        SenderTokenId=params["fundingTokenID"],
        PrepaidInstrumentId=params["prepaidInstrumentID"],
        CallerReference=at_limit["pay"],
        **amount("FundingAmount", "20.00"),
    )

    over = _multibyte_reference("over", limit + 1)
    refused = fps.call(
        "Pay",
        SenderTokenId=params["prepaidSenderTokenID"],
        CallerReference=over,
        **amount("TransactionAmount", "1.00"),
    )
    assert expect_error(refused, "InvalidParams", 400) == f"CallerReference is longer than {limit} characters"
    for name in ("callerReferenceSender", "callerReferenceFunding"):
        page = browser.open(start_url(base_url, **{name: over}))
        html = assert_page(page, 400)
        assert "Caller Input Exception: The following input(s) are not well formed: [" in html, name
        assert f"<code>{name}</code> is longer than {limit} characters" in html, name
    assert len(processor.get_tokens(caller_id)) == 2


def test_cancel_on_either_page_returns_status_a_and_issues_nothing(fps, processor, caller_id, base_url):
    before = ledger_state(processor.engine)
    for pipeline in ("SetupPrepaid", "SetupPostpaid"):
        for on_confirm_page in (False, True):
            browser = Browser()
            query = start_query(pipeline)
            page = browser.open(f"{base_url}{START}?{urlencode(query, quote_via=quote)}")
            endpoint, params = returned(
                browser.submit(browser.sign_in(page) if on_confirm_page else page, "cancel")
            )
            assert {name for name in params if "ID" in name} == set()
            assert params["status"] == "A" and params["order"] == "17"
            assert (params["callerKey"], params["callerReference"]) == (
                CALLER_KEY,
                query["callerReferenceSender"],
            )
            assert verifications(fps, endpoint, params) == (True, True)
    assert processor.get_tokens(caller_id) == []
    assert ledger_state(processor.engine)[1] == before[1]  # signing in made buyers; nothing moved


def ended(response: requests.Response) -> str:
    """The page refusing a step of a round trip that has already ended: no redirect, no form."""
    html = assert_page(response, 400)
    assert "already ended" in html and "Location" not in response.headers and "<form" not in html
    return html


def ids(params: dict[str, str]) -> dict[str, str]:
    """What a return says about the round trip: every parameter but the signature's own."""
    return {name: value for name, value in params.items() if not name.startswith(("signature", "cert"))}


@BOTH_BACKENDS
def test_a_completed_round_trip_answers_only_its_own_confirm_again(
    fps, processor, caller_id, base_url, clock
):
    """The redirect after Confirm may be lost (the merchant's site down, the buyer's network gone): the same
    buyer confirming again in the same browser gets the same return; nobody and nothing else gets one."""
    now = int(clock().timestamp())
    validity = {"validityStart": str(now + 60), "validityExpiry": str(now + 86400 * 30)}
    url = start_url(base_url, **validity)
    browser, elsewhere = Browser(), Browser()
    sign_in = browser.open(url)
    confirm = browser.sign_in(sign_in)
    as_eve = browser.sign_in(sign_in, email="eve@buyers.example")  # another tab, another address
    on_laptop = elsewhere.sign_in(elsewhere.open(url))  # the same buyer, another browser
    _, first = returned(browser.submit(confirm, "confirm"))
    assert first["status"] == "SC"
    clock.advance(timedelta(minutes=10))
    endpoint, again = returned(browser.submit(confirm, "confirm"))  # back, and submit again
    assert ids(again) == ids(first) and verifications(fps, endpoint, again) == (True, True)
    ended(browser.submit(confirm, "cancel"))
    ended(browser.submit(as_eve, "confirm"))
    ended(elsewhere.submit(on_laptop, "confirm"))
    # Back to the sign-in page, as someone else; and the start URL opened again, by anyone.
    ended(browser.sign_in(sign_in, email="eve@buyers.example"))
    ended(Browser().open(url))
    assert len(processor.get_tokens(caller_id)) == 2


@BOTH_BACKENDS
def test_a_transient_failure_at_confirm_leaves_the_round_trip_open(fps, processor, caller_id, base_url):
    browser = Browser()
    confirm = browser.sign_in(browser.open(start_url(base_url)))
    before = ledger_state(processor.engine)
    with failing_token_inserts(processor.engine):
        endpoint, failed = returned(browser.submit(confirm, "confirm"))
    assert failed["status"] == "SE" and "try again" in failed["errorMessage"]
    assert verifications(fps, endpoint, failed) == (True, True)
    assert processor.get_tokens(caller_id) == [] and ledger_state(processor.engine) == before
    _, params = returned(browser.submit(confirm, "confirm"))  # the buyer tries again
    assert params["status"] == "SC"
    tokens = {token.token_id for token in processor.get_tokens(caller_id)}
    assert tokens == {params["fundingTokenID"], params["prepaidSenderTokenID"]}


def test_a_cancelled_round_trip_cannot_be_completed_later(fps, processor, caller_id, base_url):
    url = start_url(base_url)
    browser = Browser()
    sign_in = browser.open(url)
    confirm = browser.sign_in(sign_in)
    _, cancelled = returned(browser.submit(confirm, "cancel"))
    assert cancelled["status"] == "A"
    assert ids(returned(browser.submit(confirm, "cancel"))[1]) == ids(cancelled)  # a lost redirect, again
    ended(browser.submit(confirm, "confirm"))
    ended(browser.sign_in(sign_in, email="eve@buyers.example"))  # back to the sign-in page, as Eve
    ended(Browser().open(url))  # another buyer, given the link later
    assert processor.get_tokens(caller_id) == []


@BOTH_BACKENDS
def test_concurrent_confirms_end_a_round_trip_once(processor, caller_id, base_url):
    url = start_url(base_url)
    buyers = [Browser() for _ in range(4)]
    pages = [
        buyer.sign_in(buyer.open(url), email=f"buyer{n}@buyers.example") for n, buyer in enumerate(buyers)
    ]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: buyers[n].submit(pages[n], "confirm"), range(4)))
        assert sorted(answer.status_code for answer in answers) == [302, 400, 400, 400]
        [winner] = [n for n, answer in enumerate(answers) if answer.status_code == 302]
        repeats = list(pool.map(lambda _: buyers[winner].submit(pages[winner], "confirm"), range(4)))
    first = ids(returned(answers[winner])[1])
    assert all(ids(returned(repeat)[1]) == first for repeat in repeats)  # a double click, four times
    assert len(processor.get_tokens(caller_id)) == 2


def test_start_url_past_its_expiry_is_refused(processor, caller_id, base_url, clock):
    soon = str(int((clock() + timedelta(minutes=5)).timestamp()))
    url = start_url(base_url, startUrlExpiry=soon)
    assert_page(Browser().open(url))
    clock.advance(timedelta(minutes=6))
    html = assert_page(Browser().open(url), 400)
    assert "<code>startUrlExpiry</code> has passed" in html
    for case, value in (
        ("too far ahead", str(int((clock() + timedelta(days=8)).timestamp()))),
        ("far future", "99999999999"),
        ("words", "soon"),
        ("negative", "-1"),
        ("empty", ""),
        ("huge", "9" * 400),
    ):
        html = assert_page(Browser().open(start_url(base_url, startUrlExpiry=value)), 400)
        assert "<code>startUrlExpiry</code>" in html, case
    assert processor.get_tokens(caller_id) == []


def test_our_client_signs_an_expiry_into_start_urls(processor, caller_id, base_url, clock):
    client = MerchantClient(base_url, CALLER_KEY, CALLER_SECRET, clock=clock)
    terms = {"pipelineName": "SetupPrepaid", "returnURL": RETURN_URL, "callerReferenceSender": ref("sender"),
             "callerReferenceFunding": ref("funding"), "fundingAmount": "25.00"}  # fmt: skip
    url = client.pipeline_url(terms)
    browser = Browser()
    assert_page(browser.open(url))
    clock.advance(timedelta(hours=1, minutes=1))
    assert "<code>startUrlExpiry</code> has passed" in assert_page(Browser().open(url), 400)


def test_start_url_without_expiry_lapses_a_day_after_it_was_first_opened(
    processor, caller_id, base_url, clock
):
    url = start_url(base_url)
    assert_page(Browser().open(url))
    clock.advance(timedelta(hours=23))
    assert_page(Browser().open(url))
    clock.advance(timedelta(hours=2))
    html = assert_page(Browser().open(url), 400)
    assert "expired" in html and "<form" not in html
    assert processor.get_tokens(caller_id) == []


def test_refusal_at_confirm_redirects_with_ce(fps, processor, caller_id, base_url, clock):
    browser = Browser()
    soon = int((clock() + timedelta(minutes=5)).timestamp())
    confirm = browser.sign_in(browser.open(start_url(base_url, validityExpiry=str(soon))))
    clock.advance(timedelta(minutes=10))  # the buyer dawdled past the authorization's own expiry
    endpoint, params = returned(browser.submit(confirm, "confirm"))
    assert params["status"] == "CE" and "validityExpiry" in params["errorMessage"]
    assert verifications(fps, endpoint, params) == (True, True)
    assert ids(returned(browser.submit(confirm, "confirm"))[1]) == ids(params)  # a lost redirect, again
    ended(browser.submit(confirm, "cancel"))  # the refusal ended the round trip
    assert processor.get_tokens(caller_id) == []


def _bad_starts(now: int) -> list[tuple[str, str, dict]]:
    """(case, the input named on the error page, start_query arguments)."""
    postpaid = {"pipeline": "SetupPostpaid"}
    return [
        ("unsigned", "signature", {"tamper": {"signature": None}}),
        ("wrong secret", "signature", {"secret": "not-the-secret"}),
        ("changed after signing", "signature", {"tamper": {"fundingAmount": "2500.00"}}),
        ("signed for another host", "signature", {"host": "authorize.payments.amazon.com"}),
        ("unknown key", "callerKey", {"callerKey": "AKIDNOBODY"}),
        ("no key", "callerKey", {"tamper": {"callerKey": None}}),
        ("signature version 1", "signatureVersion", {"signatureVersion": "1"}),
        ("MD5", "signatureMethod", {"tamper": {"signatureMethod": "HmacMD5"}}),
        ("other version", "version", {"version": "2010-08-28"}),
        ("single use", "pipelineName", {"pipelineName": "SingleUse"}),
        ("no sender reference", "callerReferenceSender", {"omit": ("callerReferenceSender",)}),
        ("blank funding reference", "callerReferenceFunding", {"callerReferenceFunding": "   "}),
        ("long reference", "callerReferenceSender", {"callerReferenceSender": "x" * 129}),
        (
            "same references",
            "callerReferenceFunding",
            {"callerReferenceSender": "r", "callerReferenceFunding": "r"},
        ),
        ("words", "fundingAmount", {"fundingAmount": "ten dollars"}),
        ("zero", "fundingAmount", {"fundingAmount": "0"}),
        ("negative", "fundingAmount", {"fundingAmount": "-5.00"}),
        ("fractions of a cent", "fundingAmount", {"fundingAmount": "1.234"}),
        ("absurd", "fundingAmount", {"fundingAmount": "1000000.01"}),
        ("exponent", "fundingAmount", {"fundingAmount": "1e3"}),
        ("euros", "currencyCode", {"currencyCode": "EUR"}),
        ("unknown method", "paymentMethod", {"paymentMethod": "CC,BTC"}),
        ("control character", "paymentReason", {"paymentReason": "Songs\x00"}),
        ("long reason", "paymentReason", {"paymentReason": "x" * 2049}),
        ("no returnURL", "returnURL", {"omit": ("returnURL",)}),
        ("relative returnURL", "returnURL", {"returnURL": "/fps/return"}),
        ("script returnURL", "returnURL", {"returnURL": "javascript:alert(1)"}),
        ("ftp returnURL", "returnURL", {"returnURL": "ftp://shop.example/fps/return"}),
        ("fragment", "returnURL", {"returnURL": "https://shop.example/fps/return#done"}),
        ("user info", "returnURL", {"returnURL": "https://shop.example@evil.example/fps/return"}),
        ("reserved query", "returnURL", {"returnURL": "https://shop.example/r?status=SC"}),
        ("validityStart words", "validityStart", {"validityStart": "tomorrow"}),
        ("validityStart past", "validityStart", {"validityStart": str(now - 86400)}),
        ("validityExpiry past", "validityExpiry", {"validityExpiry": str(now - 60)}),
        ("validityExpiry bad date", "validityExpiry", {"validityExpiry": "2099-13-45"}),
        (
            "expiry before start",
            "validityExpiry",
            {"validityStart": str(now + 7200), "validityExpiry": str(now + 3600)},
        ),
        ("no creditLimit", "creditLimit", {**postpaid, "omit": ("creditLimit",)}),
        ("bad globalAmountLimit", "globalAmountLimit", {**postpaid, "globalAmountLimit": "lots"}),
        (
            "no settlement reference",
            "callerReferenceSettlement",
            {**postpaid, "omit": ("callerReferenceSettlement",)},
        ),
    ]


def test_bad_start_requests_show_an_error_page_and_issue_nothing(processor, caller_id, base_url, clock):
    now = int(clock().timestamp())
    browser = Browser()
    cases = [
        (case, name, f"{base_url}{START}?{urlencode(start_query(**kwargs), quote_via=quote)}")
        for case, name, kwargs in _bad_starts(now)
    ]
    valid = urlencode(start_query(), quote_via=quote)
    cases += [
        ("repeated parameter", "fundingAmount", f"{base_url}{START}?{valid}&fundingAmount=1.00"),
        ("not UTF-8", "request", f"{base_url}{START}?{valid}&paymentReason=%FF"),
        ("nothing at all", "callerKey", f"{base_url}{START}"),
    ]
    for case, name, url in cases:
        response = browser.open(url)
        html = assert_page(response, 400)
        assert "Caller Input Exception: The following input(s) are not well formed: [" in html, case
        assert f"<code>{name}</code>" in html, case
        assert "form-action 'none'" in response.headers["Content-Security-Policy"], case
        assert "Location" not in response.headers and "<form" not in html, case
    assert processor.get_tokens(caller_id) == []


def test_boto_and_php_style_start_urls_are_accepted(fps, processor, caller_id, base_url):
    # boto 2.49 cbui_url: no `version`, an extra `CallerReference`, values quoted with safe='~',
    # signed for the host without its port.
    params = {
        "pipelineName": "SetupPrepaid",
        "returnURL": RETURN_URL,
        "callerReferenceSender": ref("sender"),
        "callerReferenceFunding": ref("funding"),
        "fundingAmount": "10.00",
        "paymentMethod": "ACH",
        "callerKey": CALLER_KEY,
        "signatureMethod": "HmacSHA256",
        "signatureVersion": "2",
        "CallerReference": str(uuid.uuid4()),
    }
    canonical = "&".join(f"{name}={quote(value, safe='~')}" for name, value in sorted(params.items()))
    string = f"GET\n127.0.0.1\n{START}\n{canonical}"
    digest = hmac.new(CALLER_SECRET.encode(), string.encode(), hashlib.sha256).digest()
    boto_url = f"{base_url}{START}?{canonical}&signature={quote(base64.b64encode(digest).decode(), safe='~')}"
    browser = Browser()
    endpoint, returned_params = returned(browser.submit(browser.sign_in(browser.open(boto_url)), "confirm"))
    assert returned_params["status"] == "SB" and "expiry" not in returned_params
    assert verifications(fps, endpoint, returned_params) == (True, True)

    # The PHP SDK signs the host with its port, and may use HmacSHA1.
    php_url = start_url(base_url, host=urlsplit(base_url).netloc, signature_method="HmacSHA1")
    assert_page(browser.open(php_url))


# The elements the CBUI pages are made of, and the tags a paymentReason may keep: a hostile value that
# became markup adds another, or an attribute.
PAGE_ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "footer", "div", "span", "h1", "h2",
    "h3", "p", "strong", "form", "input", "label", "button", "dl", "dt", "dd", "ul", "li", "code",
    "b", "i", "u", "em", "s", "br",
}  # fmt: skip


def assert_inert(html: str, *shown: str) -> _Dom:
    """`html` shows each of `shown` as text, and holds no element nor event attribute of another origin."""
    dom = _Dom(html)
    assert {tag for tag, _ in dom.elements} <= PAGE_ELEMENTS
    assert not [name for _, attrs in dom.elements for name in attrs if name.lower().startswith("on")]
    for text in shown:
        assert text in dom.text, text
    return dom


def test_hostile_caller_name_and_payment_reason_are_escaped(processor, base_url):
    hostile_name = '<script>alert("pwn")</script> & "Sons"'
    processor.ensure_caller("AKIDHOSTILE", "hostile-secret", hostile_name, "hostile@shop.example")
    reason = (
        "<b>Bold</b> <script>alert(1)</script><img src=x onerror=alert(2)>"
        '<b onclick="steal()">attrs</b><ul><li>one<li>two</ul><strike>old</strike> <u>unclosed'
    )
    url = start_url(base_url, secret="hostile-secret", callerKey="AKIDHOSTILE", paymentReason=reason)
    browser = Browser()
    sign_in = browser.open(url)
    # A bad address shows the sign-in form again, holding what the buyer typed: as values, not markup.
    email, name = '"><script>alert(3)</script>', '<img src=x onerror="alert(4)">'
    again = browser.sign_in(sign_in, email=email, name=name)
    dom = assert_inert(assert_page(again, 400), hostile_name, "Please enter a valid e-mail address.")
    assert dom.attribute("input", "id", "email")["value"] == email
    assert dom.attribute("input", "id", "name")["value"] == name
    confirm = browser.sign_in(again, email="ada@buyers.example")
    assert_inert(assert_page(sign_in), hostile_name)
    shown = ("<script>alert(1)</script><img src=x onerror=alert(2)>", '<b onclick="steal()">attrs')
    assert_inert(assert_page(confirm), hostile_name, *shown)
    assert "<ul><li>one</li><li>two</li></ul><s>old</s> <u>unclosed</u></div>" in confirm.text

    # An error page escapes what it names, too.
    valid = urlencode(start_query(), quote_via=quote)
    html = assert_page(browser.open(f"{base_url}{START}?{valid}&%3Cscript%3E=1&%3Cscript%3E=2"), 400)
    assert "<code>&lt;script&gt;</code>" in html
    assert_inert(html, "<script> is given more than once")


def _restyled(app: WSGIApplication, rewrites: list[str]) -> WSGIApplication:
    """`app` with its pages written as another template could write them: attributes in another order and
    quoting, upper-case tags, the state field wrapped in an element of its own. `rewrites` names each page
    that changed."""
    markup = (
        (r'<form method="post" action="([^"]+)"', r"<FORM class=step\nACTION='\1' Method=POST"),
        (r'<input type="hidden" name="state" (value="[^"]*")>', r"<p><INPUT \1 name=state type=hidden></p>"),
        (r'<button class="\w+" type="submit" (name="decision") (value="\w+")', r"<button \2 \1"),
    )

    def restyled(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        answer: list = []
        body = b"".join(app(environ, lambda status, headers, exc_info=None: answer.extend((status, headers))))
        status, headers = answer
        if dict(headers).get("Content-Type", "").startswith("text/html"):
            html, changes = body.decode(), 0
            for pattern, replacement in markup:
                html, count = re.subn(pattern, replacement, html)
                changes += count
            rewrites.append(f"{environ['PATH_INFO']}: {changes}")
            body = html.encode()
        headers = [(name, value) for name, value in headers if name != "Content-Length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return restyled


def test_the_sandbox_buyer_reads_forms_by_their_field_names(processor, caller_id):
    rewrites: list[str] = []
    url, stop = serve(_restyled(make_app(processor), rewrites))
    try:
        back = sandbox.authorize(requests.Session(), start_url(url), "ada@buyers.example", "Ada")
        assert back.url_endpoint == RETURN_ENDPOINT and back.params["status"] == "SC"
        # Each page the buyer read was written otherwise: the form, its state field and its buttons.
        start, sign_in = "/cobranded-ui/actions/start", "/cobranded-ui/actions/sign-in"
        assert rewrites == [f"{start}: 4", f"{sign_in}: 4"]
        assert back.params["prepaidSenderTokenID"] in {t.token_id for t in processor.get_tokens(caller_id)}
        # A page without the form a buyer expects is a failed walk, said so.
        with pytest.raises(sandbox.BuyerWalkFailed, match="HTTP 400"):
            sandbox.authorize(requests.Session(), start_url(url, fundingAmount="0"), "ada@buyers.example")
    finally:
        stop()


def test_forms_that_cannot_continue_are_refused(fps, processor, caller_id, base_url, clock):
    browser = Browser()
    sign_in = browser.open(start_url(base_url))
    confirm = browser.sign_in(sign_in)
    [form] = sandbox.forms(confirm.text)
    state = form.fields["state"]
    confirm_url = urljoin(confirm.url, form.action)

    def post(url: str, data: dict, session: requests.Session | None = None, **headers: str):
        session = session or browser.session
        return session.post(url, data=data, headers=headers, allow_redirects=False, timeout=10)

    flipped = state[:10] + ("A" if state[10] != "A" else "B") + state[11:]
    assert "not a valid step" in assert_page(
        post(confirm_url, {"state": flipped, "decision": "confirm"}), 400
    )
    assert "not a valid step" in assert_page(post(confirm_url, {"decision": "confirm"}), 400)
    # Another browser (no session cookie): a form lifted from this page cannot be replayed from elsewhere.
    lifted = post(confirm_url, {"state": state, "decision": "confirm"}, requests.Session())
    assert "session cookie" in assert_page(lifted, 403)
    foreign = post(confirm_url, {"state": state, "decision": "confirm"}, Origin="https://evil.example")
    assert "another site" in assert_page(foreign, 403)
    # The sign-in form posted to confirm, and a decision the step does not know.
    [sign_in_form] = sandbox.forms(sign_in.text)
    early = post(confirm_url, {"state": sign_in_form.fields["state"], "decision": "confirm"})
    assert "does not belong to this step" in assert_page(early, 400)
    assert_page(post(confirm_url, {"state": state, "decision": "continue"}), 400)
    assert browser.session.get(confirm_url, timeout=10).status_code == 405
    clock.advance(timedelta(hours=2))
    assert "expired" in assert_page(post(confirm_url, {"state": state, "decision": "confirm"}), 400)
    assert processor.get_tokens(caller_id) == []

    # The same origin is welcome; the pipeline then completes.
    clock.now = None
    own = post(confirm_url, {"state": state, "decision": "confirm"}, Origin=base_url)
    assert returned(own)[1]["status"] == "SC"


def test_a_bad_email_shows_the_sign_in_page_again(processor, caller_id, base_url):
    browser = Browser()
    sign_in = browser.open(start_url(base_url))
    again = browser.sign_in(sign_in, email="not an address", name="Ada")
    html = assert_page(again, 400)
    assert 'role="alert"' in html and "valid e-mail address" in html and 'value="Ada"' in html
    confirm = browser.sign_in(again, email="  Ada@Buyers.Example ")
    assert "ada@buyers.example" in assert_page(confirm)
    assert returned(browser.submit(confirm, "confirm"))[1]["status"] == "SC"


def test_public_host_is_signed_for_and_names_the_certificate(processor, caller_id, fps):
    url, stop = serve(make_app(processor, public_host="payments.example"))
    try:
        browser = Browser()
        query = urlencode(start_query(host="payments.example"), quote_via=quote)
        sign_in = browser.open(f"{url}{START}?{query}")
        assert_page(sign_in)
        confirm = browser.sign_in(sign_in, email="grace@buyers.example")
        [form] = sandbox.forms(confirm.text)
        response = browser.session.post(
            urljoin(confirm.url, form.action),
            data={**form.fields, "decision": "confirm"},
            headers={"Origin": "http://payments.example"},
            allow_redirects=False,
            timeout=10,
        )
        endpoint, params = returned(response)
        assert params["certificateUrl"].startswith("http://payments.example/certs/")
        # Fetch the certificate from where this test can reach it; the path is what names the key.
        params_here = {
            **params,
            "certificateUrl": params["certificateUrl"].replace("http://payments.example", url),
        }
        pem = requests.get(params_here["certificateUrl"], timeout=10).content
        assert verify_outbound(params, method="GET", url_endpoint=endpoint, certificate_pem=pem)
        result = fps.ok("VerifySignature", UrlEndPoint=endpoint, HttpParameters=urlencode(params))
        assert result.findtext("VerificationStatus") == "Success"
    finally:
        stop()
