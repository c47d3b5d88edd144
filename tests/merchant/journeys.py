"""The merchant tests' actors, and the chapter's journeys: open an instrument through the real CBUI."""

from __future__ import annotations

from fpscore import sandbox
from fpscore.merchant import flows, pipelines
from fpscore.merchant.connect import Merchant
from fpscore.merchant.roles import Actor, Permission
from fpscore.money import Amount

STOREFRONT = Actor.job(
    "storefront", Permission.OPEN_INSTRUMENT, Permission.PURCHASE, Permission.FUND, Permission.READ
)
FINANCE = Actor.staff("fiona", "finance")
SUPPORT = Actor.staff("sam", "support")
ANALYST = Actor.staff("ana", "analyst")
TROUBLESHOOTER = Actor.staff("theo", "troubleshooter")
ADMIN = Actor.staff("ada", "admin")
RETURN_URL = "https://shop.example/fps/return?from=checkout"


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
