"""The storefront's sign-in is throttled as staff's is, on a real merchant database (SQLite and PostgreSQL):
parallel guesses check at most the limit, counts per e-mail address from one client, per e-mail address,
per client (an IPv6 /64 counting as one) and overall, kept apart from staff's; a weaker hash is made again
at sign-in. Sign-up is throttled per client: every attempt counts, nothing is written once refused."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PASSWORD, Browser
from markupsafe import escape
from sqlalchemy import func, select

from fpscore.merchant import staff
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.schema import AuditEvent, Customer, ShopAccount
from fpscore.merchant.throttle import SignInLimits
from fpscore.shop import accounts

WRONG = "not the password at all"
TEST_N = 2**14  # hashes at this cost: the tests' time goes to the throttle's database work
LIMITS = SignInLimits(per_account_and_client=2, per_account=4, per_client=6, overall=8)
CUSTOMERS = ("ada@buyers.example", "bo@buyers.example", "cy@buyers.example", "di@buyers.example")


@pytest.fixture
def merchant(shop_settings, monkeypatch) -> Iterator[Merchant]:  # type: ignore[no-untyped-def]
    """A merchant with a few storefront customers, their passwords hashed at TEST_N."""
    monkeypatch.setattr(staff, "SCRYPT_N", TEST_N)
    merchant = connect(shop_settings)
    for email in CUSTOMERS:
        accounts.sign_up(merchant, email, email.split("@")[0], PASSWORD, client=f"198.51.100.{len(email)}")
    yield merchant
    merchant.close()


def attempt(merchant: Merchant, email: str, password: str, client: str, **kwargs: object) -> bool:
    """Whether sign-in let `email` in (a refusal always carries the one message)."""
    try:
        accounts.sign_in(merchant, email, password, client, **kwargs)  # type: ignore[arg-type]
    except accounts.AccountError as refused:
        assert str(refused) == accounts.REFUSED
        return False
    return True


def refusals(merchant: Merchant, action: str = "shop_sign_in") -> list[str]:
    events = AuditEvent.__table__
    with merchant.engine.connect() as conn:
        return list(
            conn.execute(
                select(events.c.detail)
                .where(events.c.action == action, events.c.outcome == "Refused")
                .order_by(events.c.id)
            ).scalars()
        )


def wrong_passwords_checked(merchant: Merchant) -> int:
    return sum(detail.startswith("wrong password") for detail in refusals(merchant))


def test_parallel_guesses_check_at_most_the_limit_and_then_the_right_password_is_refused(merchant):
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: attempt(merchant, "ada@buyers.example", WRONG, "local"), range(8)))
    assert not any(outcomes)
    assert wrong_passwords_checked(merchant) == accounts.LIMITS.per_account_and_client
    assert len(refusals(merchant)) == 8
    assert not attempt(merchant, "ADA@buyers.example ", PASSWORD, "local")
    assert refusals(merchant)[-1] == "too many failed sign-ins (account and client) from local"


def test_a_locked_address_does_not_lock_the_account_out_elsewhere_until_the_account_ceiling(merchant):
    ada = "ada@buyers.example"
    for _ in range(LIMITS.per_account_and_client):
        assert not attempt(merchant, ada, WRONG, "203.0.113.7", limits=LIMITS)
    assert not attempt(merchant, ada, PASSWORD, "203.0.113.7", limits=LIMITS)
    assert attempt(merchant, ada, PASSWORD, "198.51.100.2", limits=LIMITS)  # Ada, from her own address

    for n in range(LIMITS.per_account - LIMITS.per_account_and_client):  # one guess from each of many
        assert not attempt(merchant, ada, WRONG, f"203.0.113.{10 + n}", limits=LIMITS)
    assert not attempt(merchant, ada, WRONG, "203.0.113.99", limits=LIMITS)
    assert wrong_passwords_checked(merchant) == LIMITS.per_account
    assert not attempt(merchant, ada, PASSWORD, "198.51.100.2", limits=LIMITS)  # now locked for everyone
    assert refusals(merchant)[-1] == "too many failed sign-ins (account) from 198.51.100.2"


def test_a_spray_over_accounts_from_one_client_hits_the_client_limit(merchant):
    spray = [email for _ in range(2) for email in CUSTOMERS[1:]]  # 6 guesses, 2 an account
    assert not any(attempt(merchant, email, WRONG, "192.0.2.66", limits=LIMITS) for email in spray)
    assert wrong_passwords_checked(merchant) == LIMITS.per_client
    assert not attempt(merchant, "ada@buyers.example", PASSWORD, "192.0.2.66", limits=LIMITS)
    assert refusals(merchant)[-1] == "too many failed sign-ins (client) from 192.0.2.66"
    assert attempt(merchant, "ada@buyers.example", PASSWORD, "192.0.2.67", limits=LIMITS)


def test_the_overall_limit_stops_guesses_from_every_client(merchant):
    for n in range(LIMITS.overall):
        assert not attempt(merchant, CUSTOMERS[n % 4], WRONG, f"192.0.2.{n}", limits=LIMITS)
    assert not attempt(merchant, "ada@buyers.example", PASSWORD, "192.0.2.200", limits=LIMITS)
    assert refusals(merchant)[-1] == "too many failed sign-ins (all) from 192.0.2.200"
    assert wrong_passwords_checked(merchant) == LIMITS.overall


def test_an_ipv6_client_is_counted_by_its_64(merchant):
    for n in range(1, LIMITS.per_account_and_client + 1):  # a new address of one /64 for each guess
        assert not attempt(merchant, "bo@buyers.example", WRONG, f"2001:db8:0:1::{n:x}", limits=LIMITS)
    assert not attempt(merchant, "bo@buyers.example", PASSWORD, "2001:db8:0:1:ffff::1", limits=LIMITS)
    assert attempt(merchant, "bo@buyers.example", PASSWORD, "2001:db8:0:2::1", limits=LIMITS)


def test_customers_failures_do_not_count_against_staff_from_the_same_client(merchant):
    staff.add_staff(merchant.engine, "fiona", "finance", PASSWORD)
    for email in CUSTOMERS * 2:
        attempt(merchant, email, WRONG, "192.0.2.9", limits=LIMITS)
    assert not attempt(merchant, "ada@buyers.example", PASSWORD, "192.0.2.9", limits=LIMITS)
    assert staff.sign_in(merchant.engine, "fiona", PASSWORD, "192.0.2.9", LIMITS).username == "fiona"


def test_a_weaker_hash_is_made_again_when_its_customer_signs_in(merchant, monkeypatch):
    ada = "ada@buyers.example"

    def stored() -> str:
        accounts_ = ShopAccount.__table__
        with merchant.engine.connect() as conn:
            return conn.execute(
                select(accounts_.c.password_hash)
                .join(Customer.__table__, Customer.id == accounts_.c.customer_id)
                .where(Customer.email == ada)
            ).scalar_one()

    weak = stored()
    monkeypatch.setattr(staff, "SCRYPT_N", TEST_N * 2)
    assert not attempt(merchant, ada, WRONG, "local") and stored() == weak  # no rehash on a refusal
    assert attempt(merchant, ada, PASSWORD, "local")
    assert stored().startswith(f"scrypt${TEST_N * 2}$") and not staff.weaker_than_current(stored())
    assert attempt(merchant, ada, PASSWORD, "local")


def _count(merchant: Merchant) -> int:
    with merchant.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Customer)).scalar_one()


def test_sign_up_is_throttled_per_client_every_attempt_counting(merchant):
    limits = SignInLimits(per_client=3, overall=100)
    for n in (1, 2):
        accounts.sign_up(merchant, f"new{n}@x.example", "New", PASSWORD, "192.0.2.5", limits)
    with pytest.raises(accounts.AccountError, match="already"):  # an address found taken counts too
        accounts.sign_up(merchant, "ada@buyers.example", "Probe", PASSWORD, "192.0.2.5", limits)
    customers = _count(merchant)
    for email in ("new3@x.example", "ada@buyers.example"):  # a taken address is not told apart
        with pytest.raises(accounts.AccountError) as refused:
            accounts.sign_up(merchant, email, "New", PASSWORD, "192.0.2.5", limits)
        assert str(refused.value) == accounts.TOO_MANY_SIGN_UPS
    assert _count(merchant) == customers
    assert refusals(merchant, "shop_sign_up")[-1] == "too many sign-ups (client) from 192.0.2.5"
    accounts.sign_up(merchant, "new3@x.example", "New", PASSWORD, "2001:db8::5", limits)  # another client
    assert _count(merchant) == customers + 1


def test_the_shop_refuses_a_clients_sign_ups_beyond_its_limit(served, monkeypatch):
    monkeypatch.setattr(staff, "SCRYPT_N", TEST_N)
    for n in range(accounts.SIGN_UP_LIMITS.per_client):
        assert Browser(served.url).sign_up(f"c{n}@x.example", "C").url.endswith("/account?notice=signed_up")
    hostile = '<script>alert("x")</script>'
    refused = Browser(served.url).sign_up(f"{hostile}@x.example", hostile)
    assert refused.status_code == 400 and str(escape(accounts.TOO_MANY_SIGN_UPS)) in refused.text
    assert hostile not in refused.text and str(escape(hostile)) in refused.text
    assert "shop_session" not in refused.cookies
