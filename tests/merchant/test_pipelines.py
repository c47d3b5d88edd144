"""The merchant's CBUI round trip: signed start URLs, returns verified before anything is stored."""

from __future__ import annotations

import pytest
from journeys import RETURN_URL, STOREFRONT
from sqlalchemy import select

from fpscore import sandbox
from fpscore.merchant import flows, pipelines
from fpscore.merchant.pipelines import ReturnRefused
from fpscore.merchant.schema import AuditEvent, MerchantInstrument, TokenReference
from fpscore.money import Amount


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
