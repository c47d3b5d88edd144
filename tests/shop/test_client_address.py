"""Whom the storefront counts sign-ups and sign-ins against: behind a proxy it trusts (the addresses `fpscore
shop`'s front trusts, gunicorn's forwarded_allow_ips), the last address of X-Forwarded-For; otherwise the
connection's, this machine's being `local`."""

from __future__ import annotations

import pytest
import requests
from conftest import Browser
from markupsafe import escape
from sqlalchemy import select

from fpscore.merchant import staff
from fpscore.merchant.schema import AuditEvent
from fpscore.processor.front import trusted_proxies
from fpscore.shop import accounts
from fpscore.shop.app import client_address

TAKEN = "taken@buyers.example"  # sign-ups for a taken address count without hashing a password
TRUSTED = trusted_proxies(["127.0.0.1", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("::1", "203.0.113.1, 198.51.100.7", "198.51.100.7"),  # the address the proxy saw is the last
        ("127.0.0.1", "198.51.100.7,2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", "127.0.0.1", "local"),  # a client on this machine, through the proxy
        ("127.0.0.1", "<script>", "local"),  # not an address: the proxy's own
        ("127.0.0.1", None, "local"),
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # not a trusted proxy: its header is ignored
        ("203.0.113.9", None, "203.0.113.9"),
        ("", "198.51.100.7", "local"),
    ],
)
def test_the_client_address(peer, forwarded, client):
    environ = {"REMOTE_ADDR": peer} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    assert client_address(environ, TRUSTED) == client


def _sign_ups(url: str, forwarded: str | None, times: int) -> list[requests.Response]:
    session = requests.Session()
    if forwarded is not None:
        session.headers["X-Forwarded-For"] = forwarded
    return [Browser(url, session).sign_up(TAKEN, "Probe") for _ in range(times)]


def _refused(answer: requests.Response) -> bool:
    return answer.status_code == 400 and str(escape(accounts.TOO_MANY_SIGN_UPS)) in answer.text


def _refusal_reasons(served) -> list[str]:  # type: ignore[no-untyped-def]
    events = AuditEvent.__table__
    with served.shop.merchant.engine.connect() as conn:
        query = select(events.c.detail).where(
            events.c.action == "shop_sign_up", events.c.outcome == "Refused"
        )
        return list(conn.execute(query.order_by(events.c.id)).scalars())


@pytest.fixture
def taken(served, monkeypatch):  # type: ignore[no-untyped-def]
    """The shop served, with a customer of TAKEN signed up from elsewhere (not counting against anyone
    here)."""
    monkeypatch.setattr(staff, "SCRYPT_N", 2**14)
    accounts.sign_up(served.shop.merchant, TAKEN, "Taken", "correct horse battery", client="192.0.2.200")
    return served


def test_behind_the_proxy_on_this_machine_each_forwarded_address_is_its_own_client(taken):
    served = taken
    limit = accounts.SIGN_UP_LIMITS.per_client
    first = _sign_ups(served.url, "198.51.100.1", limit + 1)
    assert not any(_refused(answer) for answer in first[:limit]) and _refused(first[-1])
    assert _refusal_reasons(served) == ["too many sign-ups (client) from 198.51.100.1"]
    assert not _refused(_sign_ups(served.url, "198.51.100.2", 1)[0])  # another client through the proxy
    assert not _refused(_sign_ups(served.url, None, 1)[0])  # this machine, not through the proxy


def test_x_forwarded_for_from_a_peer_not_trusted_is_ignored(taken):
    served = taken
    served.shop.trusted = trusted_proxies(["192.0.2.1"])  # 127.0.0.1 is no proxy of this shop
    limit = accounts.SIGN_UP_LIMITS.per_client
    answers = [_sign_ups(served.url, f"198.51.100.{n}", 1)[0] for n in range(limit + 1)]
    assert not any(_refused(answer) for answer in answers[:limit]) and _refused(answers[-1])
    assert _refusal_reasons(served) == ["too many sign-ups (client) from local"]
