"""Exact money: an amount is integer minor units plus a currency code; Decimal only at the edges.

No float ever enters: parsing refuses floats, NaN, infinities, exponents, signs other than a leading
minus (refused as out of range), digits beyond the currency's minor unit, and absurd sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from fpscore.errors import AmountOutOfRange, InvalidParams

# Minor-unit exponent per supported currency. FPS only ever supported USD.
CURRENCY_EXPONENTS: dict[str, int] = {"USD": 2}
DEFAULT_CURRENCY = "USD"
# The largest amount any single request may carry: 1,000,000.00. Anything beyond is absurd here.
MAX_MINOR_UNITS = 100_000_000

_AMOUNT_TEXT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{0,12})?")


@dataclass(frozen=True, order=False, slots=True)
class Amount:
    """An exact amount of money in minor units (cents for USD)."""

    cents: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if type(self.cents) is not int:
            raise TypeError(f"Amount.cents must be int, not {type(self.cents).__name__}")
        if self.currency not in CURRENCY_EXPONENTS:
            raise InvalidParams(f"Currency {self.currency!r} is not supported")

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Amount:
        return cls(0, currency)

    @classmethod
    def parse(
        cls,
        value: str | Decimal | int,
        currency: str = DEFAULT_CURRENCY,
        *,
        field: str = "Amount",
        allow_zero: bool = False,
    ) -> Amount:
        """Parse a request amount ("25", "0.99", Decimal("1.50")) into an Amount.

        Malformed values are InvalidParams; zero (unless allowed), negative and absurd values are
        AmountOutOfRange. Trailing zeros past the minor unit ("1.000000", as responses print) are exact
        and accepted; a significant digit there is refused.
        """
        if currency not in CURRENCY_EXPONENTS:
            raise InvalidParams(f"{field}.CurrencyCode {currency!r} is not supported; use USD")
        if isinstance(value, bool) or isinstance(value, float):
            raise InvalidParams(f"{field} must be given as a decimal string, not {type(value).__name__}")
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, Decimal):
            number = value
        elif isinstance(value, str):
            text = value.strip()
            if not _AMOUNT_TEXT.fullmatch(text):
                raise InvalidParams(f"{field} {value[:40]!r} is not a decimal amount")
            number = Decimal(text)
        else:
            raise InvalidParams(f"{field} must be a decimal amount")
        if not number.is_finite():
            raise InvalidParams(f"{field} must be a finite decimal amount")
        exponent = CURRENCY_EXPONENTS[currency]
        try:
            minor = number.scaleb(exponent)
            if minor != minor.to_integral_value():
                raise InvalidParams(f"{field} {value} has more than {exponent} decimal places")
            cents = int(minor)
        except InvalidOperation as exc:
            raise InvalidParams(f"{field} {value} is not a decimal amount") from exc
        if cents < 0:
            raise AmountOutOfRange(f"{field} must not be negative")
        if cents == 0 and not allow_zero:
            raise AmountOutOfRange(f"{field} must be greater than zero")
        if cents > MAX_MINOR_UNITS:
            raise AmountOutOfRange(f"{field} {value} is above the largest amount accepted")
        return cls(cents, currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.cents).scaleb(-CURRENCY_EXPONENTS[self.currency])

    def wire(self, places: int = 6) -> str:
        """The amount as FPS responses print it: fixed six decimals."""
        return f"{self.to_decimal():.{places}f}"

    def __str__(self) -> str:
        return f"{self.to_decimal():.{CURRENCY_EXPONENTS[self.currency]}f}"

    def _same(self, other: Amount) -> None:
        if not isinstance(other, Amount):
            raise TypeError("can only combine Amount with Amount")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.cents + other.cents, self.currency)

    def __sub__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.cents - other.cents, self.currency)

    def __neg__(self) -> Amount:
        return Amount(-self.cents, self.currency)

    def __lt__(self, other: Amount) -> bool:
        self._same(other)
        return self.cents < other.cents

    def __le__(self, other: Amount) -> bool:
        self._same(other)
        return self.cents <= other.cents

    def __gt__(self, other: Amount) -> bool:
        self._same(other)
        return self.cents > other.cents

    def __ge__(self, other: Amount) -> bool:
        self._same(other)
        return self.cents >= other.cents
