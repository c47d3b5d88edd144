from helpers import open_prepaid, ref, usd

from fpscore.processor.invariants import check_ledger


def test_fund_and_pay(processor, caller_id, buyer_id, engine):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="25.00")
    processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=usd("0.99"), caller_reference=ref()
    )
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("24.01")
    assert check_ledger(engine) == []
