"""The merchant's CBUI round trip: signed start URLs, returns verified before anything is stored."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from helpers import failing_token_inserts
from journeys import FINANCE, RETURN_URL, STOREFRONT
from sqlalchemy import select

from fpscore import sandbox
from fpscore.db import utcnow
from fpscore.merchant import flows, pipelines
from fpscore.merchant.connect import connect
from fpscore.merchant.pipelines import ReturnRefused
from fpscore.merchant.schema import ApiCall, AuditEvent, MerchantInstrument, TokenReference
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
        lambda p: {k: v for k, v in p.items() if k != "callerKey"},
    ],
    ids=["instrument", "status", "unsigned", "foreign-certificate", "reference", "caller-stripped"],
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


def as_fps_sends_it(merchant, back: sandbox.Return) -> dict[str, str]:
    """The return as Amazon FPS (or another FPS-compatible processor) signs it: naming neither the caller
    nor the round trip. Ours signs both, so removing them breaks its signature ("caller-stripped" above);
    this is signed with the processor's key as such a processor would sign it."""
    unnamed = {
        name: value for name, value in back.params.items() if name not in ("callerKey", "callerReference")
    }
    return _signed_by_processor(merchant, back.url_endpoint, unnamed)


def lookups(merchant) -> list[str | None]:
    with merchant.engine.connect() as conn:
        calls = conn.execute(select(ApiCall.__table__).where(ApiCall.action == "GetTokenByCaller")).all()
    return [call.error_code for call in calls]


@pytest.mark.parametrize("confirm", [True, False], ids=["complete", "cancel"])
def test_a_return_naming_no_caller_is_put_to_the_processor_first(merchant, confirm):
    back = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example", confirm=confirm)
    result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, as_fps_sends_it(merchant, back))
    if confirm:
        assert (result.status, result.instrument_id) == ("Completed", back.params["prepaidInstrumentID"])
        [instrument] = stored(merchant, MerchantInstrument)
        assert instrument.sender_token_id == back.params["prepaidSenderTokenID"]
        assert lookups(merchant) == [None, None]  # the sender token and the funding token, each found
    else:
        assert result.status == "Abandoned" and stored(merchant, MerchantInstrument) == []
        assert lookups(merchant) == ["InvalidCallerReference"]  # no token: the round trip issued nothing


def _rivals_return(merchant, rival, pending, confirm=True) -> sandbox.Return:
    """Merchant B's own genuine round trip, under A's references and through A's returnURL."""
    url = rival.client.pipeline_url(
        {
            "pipelineName": "SetupPrepaid",
            "fundingAmount": "500.00",
            "callerReferenceSender": pending.caller_reference_sender,
            "callerReferenceFunding": pending.caller_reference_funding,
            "returnURL": f"{RETURN_URL}&tokenReference={pending.caller_reference_sender}",
        }
    )
    return sandbox.authorize(rival.client.session, url, "mallory@buyers.example", confirm=confirm)


@pytest.mark.parametrize("ours", ["pending", "confirmed-redirect-lost"])
def test_another_merchants_return_naming_no_caller_is_refused(merchant, rival, ours):
    url = start(merchant)
    [pending] = stored(merchant, TokenReference)
    if ours == "confirmed-redirect-lost":  # our tokens exist: theirs must still not pass for ours
        sandbox.authorize(merchant.client.session, url, "ada@buyers.example")
    back = _rivals_return(merchant, rival, pending)
    with pytest.raises(ReturnRefused, match="did not issue us the tokens"):
        pipelines.complete(merchant, STOREFRONT, back.url_endpoint, as_fps_sends_it(merchant, back))
    assert stored(merchant, MerchantInstrument) == []
    assert [r.status for r in stored(merchant, TokenReference)] == ["Started"]


def test_a_cancel_naming_no_caller_gives_way_to_the_tokens_the_processor_confirms(merchant, rival):
    """Against a processor that names no caller, another merchant's cancel through our returnURL cannot be
    told from our buyer's; when our buyer then authorizes, the tokens the processor confirms complete it."""
    url = start(merchant)
    [pending] = stored(merchant, TokenReference)
    cancel = _rivals_return(merchant, rival, pending, confirm=False)
    assert (
        pipelines.complete(
            merchant, STOREFRONT, cancel.url_endpoint, as_fps_sends_it(merchant, cancel)
        ).status
        == "Abandoned"
    )
    ours = sandbox.authorize(merchant.client.session, url, "ada@buyers.example")
    with pytest.raises(ReturnRefused):  # our processor names the caller: no overruling what ended
        pipelines.complete(merchant, STOREFRONT, ours.url_endpoint, ours.params)
    result = pipelines.complete(merchant, STOREFRONT, ours.url_endpoint, as_fps_sends_it(merchant, ours))
    assert (result.status, result.instrument_id) == ("Completed", ours.params["prepaidInstrumentID"])
    [reference] = stored(merchant, TokenReference)
    assert (reference.status, reference.cbui_status, reference.error_message) == ("Completed", "SC", None)


def test_a_transient_fault_leaves_the_round_trip_under_way_for_the_buyer_to_confirm_again(merchant):
    page = sandbox.sign_in(merchant.client.session, start(merchant), "ada@buyers.example")
    with failing_token_inserts(merchant.processor_engine):
        failed = sandbox.decide(page)
    assert failed.params["status"] == "SE"
    result = pipelines.complete(merchant, STOREFRONT, failed.url_endpoint, failed.params)
    assert (result.status, result.cbui_status) == ("Started", "SE")
    assert [r.status for r in stored(merchant, TokenReference)] == ["Started"]
    lost = sandbox.decide(page)  # the buyer confirms again; that redirect is lost, too
    back = sandbox.decide(page)  # and once more: the same return
    assert back.params == lost.params and back.params["status"] == "SC"
    result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert (result.status, result.instrument_id) == ("Completed", back.params["prepaidInstrumentID"])
    [reference] = stored(merchant, TokenReference)
    assert (reference.status, reference.error_message) == ("Completed", None)


def test_round_trips_whose_return_never_came_are_settled_by_asking_the_processor(merchant):
    start(merchant)  # never walked
    redirect_lost = sandbox.authorize(merchant.client.session, start(merchant), "ada@buyers.example")
    too_soon = pipelines.recover_round_trips(merchant, FINANCE)
    assert too_soon == pipelines.LapsedRoundTrips(0, [])
    later = utcnow() + pipelines.LAPSED_AFTER + timedelta(minutes=1)
    lapsed = pipelines.recover_round_trips(merchant, FINANCE, later)
    assert lapsed == pipelines.LapsedRoundTrips(1, [redirect_lost.params["callerReference"]])
    references = {r.caller_reference_sender: r.status for r in stored(merchant, TokenReference)}
    assert references[redirect_lost.params["callerReference"]] == "Started"
    assert sorted(references.values()) == ["Abandoned", "Started"]
    assert pipelines.recover_round_trips(merchant, FINANCE, later).abandoned == 0  # once
    # The return, when it does come, still completes the one the processor issued tokens for.
    result = pipelines.complete(merchant, STOREFRONT, redirect_lost.url_endpoint, redirect_lost.params)
    assert result.status == "Completed"
