"""The processor's fee schedule: a percentage plus a fixed part, by tiers of the charged amount.

Default (the reference's decision): 5% + 0.05 under 10.00, 2.9% + 0.30 from 10.00, rounded half-up to
the cent. Configurable with FPS_FEE_SCHEDULE as "from_cents:basis_points:fixed_cents,...", the
default being "0:500:5,1000:290:30".
Fees are charged on the aggregated charges (FundPrepaid, SettleDebt); the merchant side uses the same
schedule to price what each purchase would have cost charged alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpscore.money import Amount


@dataclass(frozen=True, slots=True)
class FeeTier:
    from_cents: int
    basis_points: int
    fixed_cents: int


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    tiers: tuple[FeeTier, ...]

    @classmethod
    def parse(cls, text: str) -> FeeSchedule:
        tiers = []
        for part in text.split(","):
            try:
                from_cents, bps, fixed = (int(x) for x in part.strip().split(":"))
            except ValueError as exc:
                raise ValueError(f"fee tier {part!r} is not from_cents:basis_points:fixed_cents") from exc
            if min(from_cents, bps, fixed) < 0:
                raise ValueError(f"fee tier {part!r} has a negative number")
            tiers.append(FeeTier(from_cents, bps, fixed))
        tiers.sort(key=lambda t: t.from_cents)
        if not tiers or tiers[0].from_cents != 0:
            raise ValueError("the fee schedule needs a tier starting at 0")
        return cls(tuple(tiers))

    def fee(self, amount: Amount) -> Amount:
        """The fee on one charge of `amount`, rounded half-up to the cent."""
        tier = next(t for t in reversed(self.tiers) if amount.cents >= t.from_cents)
        variable = (amount.cents * tier.basis_points + 5_000) // 10_000
        return Amount(variable + tier.fixed_cents, amount.currency)


DEFAULT_FEE_SCHEDULE = FeeSchedule.parse("0:500:5,1000:290:30")
