"""What the merchant records: one api_calls row per attempt with its RequestId, retries that never
double-charge, no credential or signature anywhere, and every refusal of a role."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl

import pytest
import requests
from journeys import ADMIN, ANALYST, FINANCE, STOREFRONT, SUPPORT, TROUBLESHOOTER, open_postpaid, open_prepaid
from sqlalchemy import select, text

from fpscore.merchant import flows
from fpscore.merchant.connect import EMBEDDED_ENDPOINT
from fpscore.merchant.roles import Forbidden
from fpscore.merchant.schema import ApiCall, AuditEvent, Purchase
from fpscore.merchant.settlement import SettlementPolicy, settle_due
from fpscore.money import Amount


class Spy(requests.adapters.BaseAdapter):
    """Passes requests on to the embedded processor; remembers the signatures sent, and can drop the
    connection after the processor has answered the first Pay (the answer is lost on the way back)."""

    def __init__(self, inner, drop_first_pay=False):
        super().__init__()
        self.inner = inner
        self.drop_first_pay = drop_first_pay
        self.signatures: list[str] = []

    def send(self, request, **kwargs):
        params = dict(parse_qsl(request.body or ""))
        if "Signature" in params:
            self.signatures.append(params["Signature"])
        response = self.inner.send(request, **kwargs)
        if self.drop_first_pay and params.get("Action") == "Pay":
            self.drop_first_pay = False
            raise requests.ConnectionError("connection reset after the processor committed the Pay")
        return response

    def close(self):
        self.inner.close()


def spy_on(merchant, **kwargs) -> Spy:
    session = merchant.client.session
    spy = Spy(session.get_adapter(EMBEDDED_ENDPOINT), **kwargs)
    session.mount(EMBEDDED_ENDPOINT, spy)
    return spy


def all_rows(engine, model):
    table = model.__table__
    with engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


def test_lost_answer_is_retried_without_double_charge(merchant, processor):
    instrument_id = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    spy_on(merchant, drop_first_pay=True)
    outcome = flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))

    with processor.engine.connect() as conn:
        pays = conn.execute(
            text("SELECT id FROM transactions WHERE operation = 'Pay' AND caller_reference = :ref"),
            {"ref": outcome.caller_reference},
        ).all()
    assert [row.id for row in pays] == [outcome.transaction_id]
    [bought] = all_rows(merchant.engine, Purchase)
    assert (bought.transaction_id, bought.status) == (outcome.transaction_id, "Success")
    attempts = [
        row for row in all_rows(merchant.engine, ApiCall) if row.caller_reference == outcome.caller_reference
    ]
    assert [a.attempt for a in attempts] == [1, 2]
    assert (attempts[0].http_status, attempts[0].error_code, attempts[0].request_id) == (
        None,
        "ServiceUnavailable",
        None,
    )
    assert attempts[1].http_status == 200 and attempts[1].transaction_id == outcome.transaction_id
    assert attempts[1].request_id and attempts[1].fps_status == "Success"
    assert flows.refresh_balance(merchant, STOREFRONT, instrument_id) == Amount.parse("9.01")


def test_every_call_recorded_and_nothing_secret(merchant, settings, caplog):
    caplog.set_level(logging.INFO)
    spy = spy_on(merchant)
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    postpaid = open_postpaid(merchant, "bob@buyers.example")
    bought = flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    flows.purchase(merchant, STOREFRONT, postpaid, "Sword", Amount.parse("4.99"))
    flows.refund_purchase(merchant, SUPPORT, bought.row_id, "double click")
    flows.write_off(merchant, SUPPORT, postpaid, Amount.parse("1.00"), "goodwill")
    flows.settle(merchant, FINANCE, postpaid)
    flows.cancel_token(merchant, SUPPORT, prepaid, "customer closed the account")

    calls = all_rows(merchant.engine, ApiCall)
    assert len(calls) == len(spy.signatures) == 8
    assert all(call.request_id for call in calls)
    assert {call.action for call in calls} >= {"FundPrepaid", "Pay", "Refund", "WriteOffDebt", "SettleDebt",
                                              "GetDebtBalance", "CancelToken"}  # fmt: skip
    for call in calls:
        params = json.loads(call.request_params)
        assert not {"AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion"} & set(params)
    recorded = "\n".join(str(tuple(call)) for call in calls) + "\n".join(
        map(str, all_rows(merchant.engine, AuditEvent))
    )
    logged = caplog.text
    for secret in (settings.secret_access_key, settings.access_key_id, *spy.signatures):
        assert secret not in recorded
        assert secret not in logged


FORBIDDEN = {
    "settle": lambda m, actor, ids: flows.settle(m, actor, ids["postpaid"]),
    "write off": lambda m, actor, ids: flows.write_off(m, actor, ids["postpaid"], Amount.parse("1.00"), "x"),
    "refund": lambda m, actor, ids: flows.refund_purchase(m, actor, ids["purchase"], "x"),
    "cancel": lambda m, actor, ids: flows.cancel_token(m, actor, ids["prepaid"], "x"),
    "fund": lambda m, actor, ids: flows.fund(m, actor, ids["prepaid"], Amount.parse("1.00")),
    "settle due": lambda m, actor, ids: settle_due(m, actor, SettlementPolicy()),
}
ALLOWED = {
    "finance": {"settle", "fund", "settle due"},
    "support": {"write off", "refund", "cancel"},
    "analyst": set(),
    "troubleshooter": set(),
    "admin": set(),
}


@pytest.fixture
def world(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    postpaid = open_postpaid(merchant, "bob@buyers.example")
    purchase = flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    flows.purchase(merchant, STOREFRONT, postpaid, "Sword", Amount.parse("4.99"))
    return {"prepaid": prepaid, "postpaid": postpaid, "purchase": purchase.row_id}


@pytest.mark.parametrize("actor", [FINANCE, SUPPORT, ANALYST, TROUBLESHOOTER, ADMIN], ids=lambda a: a.role)
def test_each_role_is_refused_what_it_may_not_do(merchant, world, actor):
    calls_before = len(all_rows(merchant.engine, ApiCall))
    for name, flow in FORBIDDEN.items():
        if name in ALLOWED[actor.role]:
            continue
        with pytest.raises(Forbidden):
            flow(merchant, actor, world)
    refused = [e for e in all_rows(merchant.engine, AuditEvent) if e.outcome == "Refused"]
    assert len(refused) == len(FORBIDDEN) - len(ALLOWED[actor.role])
    assert {e.actor for e in refused} == {actor.name}
    assert len(all_rows(merchant.engine, ApiCall)) == calls_before  # a refusal sends nothing
