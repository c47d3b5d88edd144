"""Customers' storefront accounts: sign-up with a password (scrypt, as staff's), and throttled sign-in.

Sign-in takes a slot in two counts before it checks the password, so parallel guesses check no more than
the limits: ACCOUNT_LIMIT failures on one e-mail address, CLIENT_LIMIT from one client address, each until
WINDOW after its last failure. A right password gives the slots back. Unknown address, wrong password and
a full count get the same answer after the same scrypt work; the audit trail records the reason.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
from datetime import timedelta

from fpscore.merchant.connect import Merchant
from fpscore.merchant.staff import MIN_PASSWORD_LENGTH, check_password, hash_password
from fpscore.shop import records

ACCOUNT_LIMIT = 10
CLIENT_LIMIT = 30
WINDOW = timedelta(minutes=15)
MAX_NAME = 128
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}")
_CHECKS = threading.BoundedSemaphore(4)  # scrypt takes 128 MiB a check: a burst queues here
TAKEN = "There is an account for this e-mail address already: sign in."
REFUSED = "Wrong e-mail address or password, or too many failed attempts (then try again in 15 minutes)."


class AccountError(Exception):
    """Sign-up or sign-in refused; the message is for the customer."""


@functools.cache
def _dummy() -> str:
    """A hash of nothing anyone knows: checked when there is no account, so a refusal costs the same."""
    return hash_password(secrets.token_urlsafe(16))


def sign_up(merchant: Merchant, email: str, name: str, password: str) -> int:
    """A new customer with a storefront password; their id. Refused (TAKEN) when a customer with this
    address exists, whether they have a storefront account or were made by another channel (the demo, the
    back office): joining such a customer to the storefront would need the address's owner to prove it
    (a verification e-mail, not built), or whoever signed up first would take over their balance."""
    email, name = email.strip().lower(), " ".join(name.split())[:MAX_NAME]
    if not _EMAIL.fullmatch(email):
        raise AccountError("Enter a valid e-mail address.")
    if not name:
        raise AccountError("Enter your name.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords have at least {MIN_PASSWORD_LENGTH} characters.")
    if records.customer_exists(merchant.engine, email):
        raise AccountError(TAKEN)
    with _CHECKS:
        hashed = hash_password(password)
    customer_id = records.add_customer(merchant.engine, email, name, hashed, merchant.clock())
    if customer_id is None:  # made meanwhile
        raise AccountError(TAKEN)
    merchant.audit.record_event(f"shop-customer-{customer_id}", "shop_sign_up", "Done", email[:128], None)
    return customer_id


def sign_in(merchant: Merchant, email: str, password: str, client: str) -> int:
    """The customer these credentials name, tried from `client`; AccountError(REFUSED) otherwise."""
    email = email.strip().lower()[:254]
    keys = [(f"account:{email}", ACCOUNT_LIMIT), (f"client:{client[:64]}", CLIENT_LIMIT)]
    slots = records.take_slots(merchant.engine, keys, merchant.clock(), WINDOW)
    found = records.account_by_email(merchant.engine, email) if slots else None
    with _CHECKS:
        right = check_password(password, found.password_hash if found else _dummy())
    if found is not None and right:
        records.give_back(merchant.engine, keys[0][0], keys[1][0])
        return int(found.id)
    reason = (
        "too many failed sign-ins" if not slots else "unknown e-mail" if found is None else "wrong password"
    )
    merchant.audit.record_event(
        "shop", "shop_sign_in", "Refused", email[:128], f"{reason} from {client[:64]}"
    )
    raise AccountError(REFUSED)
