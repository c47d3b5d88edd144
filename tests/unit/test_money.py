from decimal import Decimal

import pytest

from fpscore.errors import AmountOutOfRange, InvalidParams
from fpscore.money import Amount


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0.99", 99),
        ("25", 2500),
        ("25.0", 2500),
        ("1.50", 150),
        ("1.000000", 100),
        (" 7.05 ", 705),
        ("1000000", 100_000_000),
    ],
)
def test_parse_exact(text, cents):
    assert Amount.parse(text).cents == cents


def test_parse_decimal_and_int():
    assert Amount.parse(Decimal("12.34")).cents == 1234
    assert Amount.parse(3).cents == 300


@pytest.mark.parametrize(
    "text", ["1.001", "0.999", "abc", "", "1e3", "NaN", "Infinity", "1,00", "+1", "1.2.3", "0x10", "١٢"]
)
def test_parse_malformed_is_invalid_params(text):
    with pytest.raises(InvalidParams):
        Amount.parse(text)


@pytest.mark.parametrize("value", [1.5, 0.1, True])
def test_floats_and_bools_are_refused(value):
    with pytest.raises(InvalidParams):
        Amount.parse(value)


def test_nan_decimal_refused():
    with pytest.raises(InvalidParams):
        Amount.parse(Decimal("NaN"))


@pytest.mark.parametrize("text", ["-1", "-0.01", "0", "0.00", "1000000.01", "99999999999"])
def test_out_of_range(text):
    with pytest.raises(AmountOutOfRange):
        Amount.parse(text)


def test_zero_allowed_when_asked():
    assert Amount.parse("0", allow_zero=True).cents == 0


def test_unknown_currency():
    with pytest.raises(InvalidParams):
        Amount.parse("1.00", "EUR")


def test_cents_must_be_int():
    with pytest.raises(TypeError):
        Amount(1.5)  # type: ignore[arg-type]


def test_arithmetic_and_formatting():
    a, b = Amount.parse("0.10"), Amount.parse("0.20")
    assert a + b == Amount.parse("0.30")
    assert str(a + b) == "0.30"
    assert (b - a).wire() == "0.100000"
    assert (a - b).cents == -10
    assert a < b and b >= a
    assert (a + b).to_decimal() == Decimal("0.30")
