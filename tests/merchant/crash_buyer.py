"""A purchase loop for the crash test: buys 0.99–1.29 items against the instruments named on the command
line, round and round, until it is killed. Refusals (a balance or credit line used up) are part of the
traffic. Prints "ready" once connected, so the test knows when the purchases have started."""

from __future__ import annotations

import itertools
import sys

from fpscore.config import Settings
from fpscore.errors import FpsError
from fpscore.merchant import flows
from fpscore.merchant.connect import connect
from fpscore.merchant.roles import Actor, Permission
from fpscore.money import Amount

STOREFRONT = Actor.job("crash-buyer", Permission.PURCHASE, Permission.READ)


def main(instrument_ids: list[str]) -> None:
    merchant = connect(Settings.from_env())
    print("ready", flush=True)
    prices = itertools.cycle(Amount(cents) for cents in (99, 129, 99, 109))
    for instrument_id in itertools.cycle(instrument_ids):
        try:
            flows.purchase(merchant, STOREFRONT, instrument_id, "Song", next(prices))
        except (FpsError, flows.FlowRefused):
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
