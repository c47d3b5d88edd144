"""Signing up cannot take over a customer another channel made: the address is refused as taken, with the
answer an existing storefront account gets, and nothing is written."""

from __future__ import annotations

from conftest import PASSWORD, Browser
from markupsafe import escape
from sqlalchemy import select

from fpscore.merchant import flows
from fpscore.merchant.schema import AuditEvent, Customer, ShopAccount
from fpscore.shop import accounts


def _rows(served) -> tuple[list, list, list]:
    with served.shop.merchant.engine.connect() as conn:
        return (
            conn.execute(select(Customer.__table__)).all(),
            conn.execute(select(ShopAccount.__table__)).all(),
            conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "shop_sign_up")).all(),
        )


def test_a_customer_made_elsewhere_cannot_be_claimed_by_signing_up(served):
    merchant = served.shop.merchant
    flows.ensure_customer(merchant, "bob@x.example", "Bob")  # as `fpscore demo` makes its customers
    before = _rows(served)
    mallory = Browser(served.url)
    for address in ("bob@x.example", " BOB@x.example "):
        page = mallory.sign_up(address, "Mallory")
        assert page.status_code == 400 and str(escape(accounts.TAKEN)) in page.text
        assert "shop_session" not in mallory.session.cookies
    assert _rows(served) == before
    # The same answer as for an address with a storefront account.
    accounts.sign_up(merchant, "ada@x.example", "Ada", PASSWORD)
    taken = Browser(served.url).sign_up("ada@x.example", "Mallory")
    assert taken.status_code == 400 and str(escape(accounts.TAKEN)) in taken.text
    signed_in = Browser(served.url)
    signed_in.get("/signin")
    refused = signed_in.post("/signin", {"email": "bob@x.example", "password": PASSWORD})
    assert refused.status_code == 403 and "shop_session" not in signed_in.session.cookies
