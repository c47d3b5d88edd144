"""Customers' storefront accounts: sign-up with a password and sign-in, both throttled.

Passwords are hashed and checked as staff's are (fpscore.merchant.staff: scrypt, a hash made at a lower cost
made again at sign-in, one cost for every refusal). Sign-in is throttled as staff's is
(fpscore.merchant.throttle, kind 'customer': per e-mail address from one client, per e-mail address, per
client and overall). Every sign-up attempt that gets as far as the e-mail address counts against its client
(kind 'sign_up'), made or found taken, so a client can neither probe many addresses nor keep the host
hashing. The audit trail records each refusal's reason.
"""

from __future__ import annotations

import re

from fpscore.merchant import throttle
from fpscore.merchant.connect import Merchant
from fpscore.merchant.staff import MIN_PASSWORD_LENGTH, hash_password, verify, weaker_than_current
from fpscore.merchant.throttle import LOCAL_CLIENT, MAX_ACCOUNT_CHARS, MAX_CLIENT_CHARS, SignInLimits
from fpscore.shop import records

MAX_NAME = 128
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}")
LIMITS = throttle.KINDS["customer"]
SIGN_UP_LIMITS = throttle.KINDS["sign_up"]
TAKEN = "There is an account for this e-mail address already: sign in."
REFUSED = (
    "Wrong e-mail address or password, or too many failed attempts "
    f"(then try again in {throttle.minutes(LIMITS)})."
)
TOO_MANY_SIGN_UPS = f"Too many sign-ups from your address: try again in {throttle.minutes(SIGN_UP_LIMITS)}."


class AccountError(Exception):
    """Sign-up or sign-in refused; the message is for the customer."""


def _client(client: str) -> str:
    return client.strip()[:MAX_CLIENT_CHARS] or LOCAL_CLIENT


def sign_up(
    merchant: Merchant,
    email: str,
    name: str,
    password: str,
    client: str = LOCAL_CLIENT,
    limits: SignInLimits = SIGN_UP_LIMITS,
) -> int:
    """A new customer with a storefront password, signing up from `client` (an address); their id. Refused
    (TAKEN) when a customer with this address exists, whether they have a storefront account or were made by
    another channel (the demo, the back office): joining such a customer to the storefront would need the
    address's owner to prove it (a verification e-mail, not built), or whoever signed up first would take
    over their balance."""
    email, name = email.strip().lower(), " ".join(name.split())[:MAX_NAME]
    if not _EMAIL.fullmatch(email):
        raise AccountError("Enter a valid e-mail address.")
    if not name:
        raise AccountError("Enter your name.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords have at least {MIN_PASSWORD_LENGTH} characters.")
    client = _client(client)
    full = throttle.take(merchant.engine, "sign_up", None, throttle.client_of(client), limits)
    if full is not None:
        merchant.audit.record_event(
            "shop", "shop_sign_up", "Refused", email[:128], f"too many sign-ups ({full}) from {client}"
        )
        raise AccountError(TOO_MANY_SIGN_UPS)
    if records.customer_exists(merchant.engine, email):
        raise AccountError(TAKEN)
    hashed = hash_password(password)
    customer_id = records.add_customer(merchant.engine, email, name, hashed, merchant.clock())
    if customer_id is None:  # made meanwhile
        raise AccountError(TAKEN)
    merchant.audit.record_event(f"shop-customer-{customer_id}", "shop_sign_up", "Done", email[:128], None)
    return customer_id


def sign_in(
    merchant: Merchant, email: str, password: str, client: str = LOCAL_CLIENT, limits: SignInLimits = LIMITS
) -> int:
    """The customer these credentials name, tried from `client` (an address); AccountError(REFUSED)
    otherwise."""
    engine = merchant.engine
    email, client = email.strip().lower()[:MAX_ACCOUNT_CHARS], _client(client)
    counted = throttle.client_of(client)
    full = throttle.take(engine, "customer", email, counted, limits)
    found = records.account_by_email(engine, email) if full is None else None
    right = verify(password, None if found is None else found.password_hash)
    if found is not None and right:
        throttle.give_back(engine, "customer", email, counted)
        if weaker_than_current(found.password_hash):
            records.rehash(engine, found.id, found.password_hash, hash_password(password))
        return int(found.id)
    if full is not None:
        reason = f"too many failed sign-ins ({full.replace('_', ' and ')})"
    else:
        reason = "unknown e-mail" if found is None else "wrong password"
    merchant.audit.record_event("shop", "shop_sign_in", "Refused", email[:128], f"{reason} from {client}")
    raise AccountError(REFUSED)
