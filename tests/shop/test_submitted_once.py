"""A money form posted more than once (a double click, a resent POST, concurrent posts) moves money once:
its submission key makes the movement's CallerReference, and every post is answered with that movement."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import Browser, Served, figures, hidden_fields
from sqlalchemy import func, select

from fpscore.merchant.schema import Funding, Order, Purchase, Settlement
from fpscore.processor.schema import Transaction
from fpscore.shop import records


def cheapest(served: Served) -> int:
    return next(song.id for song in records.products(served.shop.merchant.engine) if song.price_cents == 99)


def _count(served: Served, model: type) -> int:
    engine = served.shop.merchant.engine
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def _operations(served: Served) -> list[str]:
    """The operations of the processor's transactions, in order."""
    with served.shop.merchant.processor_engine.connect() as conn:
        table = Transaction.__table__
        return list(
            conn.execute(select(table.c.operation).order_by(table.c.created_at, table.c.id)).scalars()
        )


def _customer(served: Served, path: str, field: str, value: str) -> Browser:
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    browser.get("/account")
    browser.come_back(browser.authorize(browser.start(path, field, value), "ada@buyers.example"))
    return browser


def _post_times(
    browser: Browser, path: str, fields: dict[str, str], times: int, concurrent: bool
) -> set[str]:
    """Post one form's fields `times` times, one after another or all at once: where each answer sends."""

    def post(_n: int) -> str:
        answer = browser.session.post(browser.url + path, data=fields, allow_redirects=False, timeout=60)
        assert answer.status_code == 303, answer.text[:300]
        return answer.headers["Location"]

    if not concurrent:
        return {post(n) for n in range(times)}
    with ThreadPoolExecutor(times) as pool:
        return set(pool.map(post, range(times)))


@pytest.mark.parametrize(("times", "concurrent"), [(2, False), (4, True)])
def test_a_buy_form_posted_again_buys_once(served, times, concurrent):
    browser = _customer(served, "/prepay", "pack", "10.00")
    song = cheapest(served)
    browser.get("/")
    form = hidden_fields(browser.page, "/buy", f'name="product" value="{song}"')
    assert form["submission"] and form["product"] == str(song)
    before = _operations(served)
    locations = _post_times(browser, "/buy", form, times, concurrent)
    assert len(locations) == 1, locations  # every post is answered with the same purchase
    page = browser.get(locations.pop())
    assert "You bought" in page.text and figures(page.text, "balance") == ["9.01"]
    assert _count(served, Purchase) == 1 and _count(served, Order) == 1
    assert _operations(served)[len(before) :] == ["Pay"]
    # Another click on the page the answer shows is a new purchase.
    assert figures(browser.buy(song).text, "balance") == ["8.02"] and _count(served, Purchase) == 2


@pytest.mark.parametrize(("times", "concurrent"), [(2, False), (4, True)])
def test_a_top_up_form_posted_again_funds_once(served, times, concurrent):
    browser = _customer(served, "/prepay", "pack", "10.00")
    browser.get("/account")
    form = {**hidden_fields(browser.page, "/prepay"), "pack": "5.00"}
    before = _operations(served)
    locations = _post_times(browser, "/prepay", form, times, concurrent)
    assert len(locations) == 1, locations
    page = browser.get(locations.pop())
    assert "Added 5.00" in page.text and set(figures(page.text, "balance")) == {"15.00"}
    assert _count(served, Funding) == 2  # the pack at sign-up, and this top-up once
    assert _operations(served)[len(before) :] == ["FundPrepaid"]


@pytest.mark.parametrize(("times", "concurrent"), [(2, False), (4, True)])
def test_a_pay_now_form_posted_again_settles_once(served, times, concurrent):
    browser = _customer(served, "/paylater", "limit", "5.00")
    browser.buy(cheapest(served))
    browser.get("/account")
    form = hidden_fields(browser.page, "/settle")
    before = _operations(served)
    locations = _post_times(browser, "/settle", form, times, concurrent)
    assert len(locations) == 1, locations
    page = browser.get(locations.pop())
    assert "You paid 0.99" in page.text and 'id="debt-settled"' in page.text
    assert _count(served, Settlement) == 1
    assert _operations(served)[len(before) :] == ["SettleDebt"]


def test_a_submission_key_is_the_customers_own_and_for_its_form(served):
    ada = _customer(served, "/prepay", "pack", "10.00")
    ada.get("/")
    song = cheapest(served)
    form = hidden_fields(ada.page, "/buy", f'name="product" value="{song}"')
    grace = Browser(served.url)
    grace.sign_up("grace@buyers.example", "Grace")
    grace.get("/")
    theirs = {**hidden_fields(grace.page, "/buy"), "product": str(song), "submission": form["submission"]}
    for browser, fields, path in (
        (grace, theirs, "/buy"),  # another customer's key
        (ada, {**form, "submission": form["submission"][:-2] + "xx"}, "/buy"),  # tampered
        (ada, {k: v for k, v in form.items() if k != "submission"}, "/buy"),  # none
        (ada, {**hidden_fields(ada.page, "/buy"), "pack": "5.00"}, "/prepay"),  # a Buy key on Top up
    ):
        answer = browser.session.post(served.url + path, data=fields, allow_redirects=False, timeout=30)
        assert answer.status_code == 303 and answer.headers["Location"].endswith("notice=bad_form")
    assert _count(served, Purchase) == 0 and _count(served, Funding) == 1
