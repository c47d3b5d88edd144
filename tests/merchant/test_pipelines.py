"""The merchant's CBUI round trip: signed start URLs, returns verified before anything is stored."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest
from journeys import RETURN_URL, STOREFRONT
from sqlalchemy import select

from fpscore import sandbox
from fpscore.merchant import flows, pipelines
from fpscore.merchant.connect import connect
from fpscore.merchant.pipelines import ReturnRefused
from fpscore.merchant.schema import AuditEvent, MerchantInstrument, TokenReference
from fpscore.money import Amount
from fpscore.processor.keys import SigningKeys


def start(merchant, email="ada@buyers.example"):
    customer = flows.ensure_customer(merchant, email)
    return pipelines.start_prepaid(merchant, STOREFRONT, customer, Amount.parse("25.00"), RETURN_URL)


def stored(merchant, model):
    with merchant.engine.connect() as conn:
        return conn.execute(select(model.__table__)).all()


def test_start_url_is_signed_and_unique(merchant):
    first, second = start(merchant), start(merchant)
    assert first != second and "signature=" in first and "signatureMethod=HmacSHA256" in first
    references = stored(merchant, TokenReference)
    assert len({r.caller_reference_sender for r in references}) == 2
    assert all(r.status == "Started" for r in references)


def test_completed_once_however_often_it_returns(merchant):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")
    first = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    again = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert first.status == again.status == "Completed" and first.instrument_id == again.instrument_id
    [instrument] = stored(merchant, MerchantInstrument)
    assert (
        instrument.funding_limit_cents == 2500
        and instrument.funding_token_id == back.params["fundingTokenID"]
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "prepaidInstrumentID": "X" * 64},
        lambda p: {**p, "status": "SA"},
        lambda p: {k: v for k, v in p.items() if k != "signature"},
        lambda p: {**p, "certificateUrl": "https://attacker.example/cert.pem"},
        lambda p: {**p, "tokenReference": "sender-someone-else"},
    ],
    ids=["instrument", "status", "unsigned", "foreign-certificate", "reference"],
)
def test_tampered_returns_store_nothing(merchant, tamper):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")
    with pytest.raises(ReturnRefused):
        pipelines.complete(merchant, STOREFRONT, back.url_endpoint, tamper(back.params))
    assert stored(merchant, MerchantInstrument) == []
    assert [r.status for r in stored(merchant, TokenReference)] == ["Started"]
    assert any(e.outcome == "Refused" for e in stored(merchant, AuditEvent))


def test_wrong_endpoint_is_refused(merchant):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")
    with pytest.raises(ReturnRefused):
        pipelines.complete(merchant, STOREFRONT, "https://shop.example/elsewhere", back.params)


def test_abandoned_authorization(merchant):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example", confirm=False)
    result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert (result.status, result.cbui_status, result.instrument_id) == ("Abandoned", "A", None)
    assert stored(merchant, MerchantInstrument) == []


@pytest.fixture
def rival(settings, tmp_path):
    """Merchant B: its own database and credentials, on the processor `merchant` (merchant A) uses."""
    other = dataclasses.replace(
        settings,
        database_url=f"sqlite:///{tmp_path / 'rival.sqlite3'}",
        access_key_id="AKIDRIVAL",
        secret_access_key="rival-secret-key",
        caller_name="Rival Shop",
        caller_email="billing@rival.example",
    )
    rival = connect(other)
    yield rival
    rival.close()


@pytest.mark.parametrize("confirm", [True, False], ids=["complete", "cancel"])
def test_another_merchants_return_through_our_return_url_is_refused(merchant, rival, confirm):
    """B signs a start URL whose returnURL is A's, naming A's pending round trip (and its references)."""
    start(merchant)
    [pending] = stored(merchant, TokenReference)
    own = urlsplit(RETURN_URL)
    their_return_url = f"{RETURN_URL}&tokenReference={pending.caller_reference_sender}"
    url = rival.client.pipeline_url(
        {
            "pipelineName": "SetupPrepaid",
            "fundingAmount": "500.00",
            "callerReferenceSender": pending.caller_reference_sender,
            "callerReferenceFunding": pending.caller_reference_funding,
            "returnURL": their_return_url,
        }
    )
    back = sandbox.authorize(rival.client.session, url, "mallory@buyers.example", confirm=confirm)
    assert back.url_endpoint == f"{own.scheme}://{own.netloc}{own.path}"
    with pytest.raises(ReturnRefused):
        pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert stored(merchant, MerchantInstrument) == []
    assert [r.status for r in stored(merchant, TokenReference)] == ["Started"]
    assert any(e.outcome == "Refused" for e in stored(merchant, AuditEvent))


def _signed_by_processor(merchant, url_endpoint: str, params: dict[str, str]) -> dict[str, str]:
    """`params` signed with the processor's own key: a return the processor no longer sends once a round
    trip has ended, to show that the merchant refuses it by itself."""
    _key_id, key = SigningKeys(merchant.processor_engine).current()
    unsigned = {name: value for name, value in params.items() if name != "signature"}
    return {**unsigned, "signature": key.sign_outbound(unsigned, method="GET", url_endpoint=url_endpoint)}


def test_a_return_for_a_round_trip_that_ended_otherwise_is_refused(merchant):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")
    done = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    before = stored(merchant, TokenReference), stored(merchant, MerchantInstrument)
    cancelled = {name: value for name, value in back.params.items() if not name.endswith("ID")}
    cancelled = _signed_by_processor(merchant, back.url_endpoint, {**cancelled, "status": "A"})
    assert pipelines.verify_signed(merchant, STOREFRONT, "GET", back.url_endpoint, cancelled)
    with pytest.raises(ReturnRefused):
        pipelines.complete(merchant, STOREFRONT, back.url_endpoint, cancelled)
    assert (stored(merchant, TokenReference), stored(merchant, MerchantInstrument)) == before
    assert before[0][0].status == "Completed" and before[0][0].instrument_id == done.instrument_id


def test_a_success_return_for_an_abandoned_round_trip_is_refused(merchant):
    url = start(merchant)
    back = sandbox.authorize(merchant.client.session, url, "ada@buyers.example", confirm=False)
    assert pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params).status == "Abandoned"
    later = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")  # real tokens
    reference = back.params["tokenReference"]
    success = {**later.params, "tokenReference": reference, "callerReference": reference}
    success = _signed_by_processor(merchant, back.url_endpoint, success)
    with pytest.raises(ReturnRefused):
        pipelines.complete(merchant, STOREFRONT, back.url_endpoint, success)
    assert stored(merchant, MerchantInstrument) == []
    assert [r.status for r in stored(merchant, TokenReference)] == ["Abandoned", "Started"]
