import pytest

from fpscore.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule
from fpscore.money import Amount


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        ("1.00", "0.10"),  # 5% + 0.05: the docs' CC Pay sample
        ("5.00", "0.30"),  # the docs' FundPrepaid sample
        ("0.99", "0.10"),  # 4.95 cents rounds half-up to 5
        ("0.30", "0.07"),  # 1.5 cents rounds half-up to 2
        ("9.99", "0.55"),
        ("10.00", "0.59"),  # 2.9% + 0.30 from 10.00
        ("25.00", "1.03"),  # 72.5 cents rounds half-up to 73
        ("100.00", "3.20"),
    ],
)
def test_default_schedule(amount, fee):
    assert DEFAULT_FEE_SCHEDULE.fee(Amount.parse(amount)) == Amount.parse(fee, allow_zero=True)


def test_custom_schedule():
    schedule = FeeSchedule.parse("0:0:0,500:100:1")
    assert schedule.fee(Amount.parse("4.99")).cents == 0
    assert schedule.fee(Amount.parse("5.00")).cents == 6


@pytest.mark.parametrize("text", ["", "10:1:1", "0:1", "0:-1:0", "a:b:c"])
def test_bad_schedules(text):
    with pytest.raises(ValueError):
        FeeSchedule.parse(text)
