"""The chapter's journeys as helpers: open a prepaid or postpaid instrument through the real CBUI."""

from __future__ import annotations

from conftest import RETURN_URL, STOREFRONT

from fpscore import sandbox
from fpscore.merchant import flows, pipelines
from fpscore.merchant.connect import Merchant
from fpscore.money import Amount


def open_prepaid(merchant: Merchant, email: str, limit: str = "25.00", fund: str | None = None) -> str:
    customer = flows.ensure_customer(merchant, email)
    url = pipelines.start_prepaid(merchant, STOREFRONT, customer, Amount.parse(limit), RETURN_URL)
    back = sandbox.authorize(merchant.client.session, url, email)
    result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert result.status == "Completed", result
    if fund is not None:
        flows.fund(merchant, STOREFRONT, result.instrument_id, Amount.parse(fund))
    return result.instrument_id


def open_postpaid(merchant: Merchant, email: str, limit: str = "25.00", per_purchase: str = "10.00") -> str:
    customer = flows.ensure_customer(merchant, email)
    url = pipelines.start_postpaid(
        merchant, STOREFRONT, customer, Amount.parse(limit), Amount.parse(per_purchase), RETURN_URL
    )
    back = sandbox.authorize(merchant.client.session, url, email)
    result = pipelines.complete(merchant, STOREFRONT, back.url_endpoint, back.params)
    assert result.status == "Completed", result
    return result.instrument_id
