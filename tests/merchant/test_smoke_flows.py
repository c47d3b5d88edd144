from journeys import FINANCE, STOREFRONT, SUPPORT, open_postpaid, open_prepaid

from fpscore.merchant import flows
from fpscore.money import Amount


def test_prepaid_and_postpaid_round_trip(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    assert flows.refresh_balance(merchant, STOREFRONT, prepaid) == Amount.parse("9.01")
    postpaid = open_postpaid(merchant, "bob@buyers.example")
    flows.purchase(merchant, STOREFRONT, postpaid, "Level pack", Amount.parse("4.99"))
    flows.write_off(merchant, SUPPORT, postpaid, Amount.parse("1.00"), "disputed")
    outcome = flows.settle(merchant, FINANCE, postpaid)
    assert outcome.status == "Success"
    assert flows.refresh_balance(merchant, STOREFRONT, postpaid).cents == 0
