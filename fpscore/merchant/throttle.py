"""Throttled sign-in attempts, for staff and storefront customers alike: failures counted in the database
(`sign_in_failures`, shared by every process) per kind of attempt (SIGN_IN_KINDS), each kind with its own
limits (KINDS).

An attempt counts in up to four scopes: an account from one client address, an account, a client address,
and everyone (a kind without accounts, like sign-ups, counts in the last two). It first takes a slot in each
scope, all in one transaction that is refused when any scope is full, and only then is the password checked,
so parallel guesses check at most the limit; a right password gives its slots back. Failures are forgotten
a window after the last one of their scope. A client is an IPv4 address, or an IPv6 address's /64 (one
subscriber's usual share, so one attacker does not count as 2**64 clients). Every transaction on the counts
locks them in one order (kind, then the order of `_scopes`), so attempts never deadlock one another; a
transaction the database rolls back anyway (deadlock, serialization failure) is run again, a few times at
most.

The per-account-and-client limit is the lowest, so whoever knows an account's name cannot lock its owner out
from another address; a larger per-account ceiling still stops guesses spread over many addresses, and the
per-client and overall limits stop a spray over many accounts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, case, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from fpscore.db import retryable, utcnow
from fpscore.merchant.schema import SIGN_IN_KINDS, SignInFailures

_failures = SignInFailures.__table__
LOCAL_CLIENT = "local"  # the client address of an attempt made on this machine
MAX_CLIENT_CHARS = 64
MAX_ACCOUNT_CHARS = 254  # the longest e-mail address
IPV6_CLIENT_PREFIX = 64
MAX_TRANSACTION_RUNS = 5
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """How many failed attempts each scope counts before it refuses, until `window` after its last one."""

    per_account_and_client: int = 5
    per_account: int = 20
    per_client: int = 20
    overall: int = 100
    window: timedelta = timedelta(minutes=15)

    def of(self, scope: str) -> int:
        return {
            "all": self.overall,
            "client": self.per_client,
            "account": self.per_account,
            "account_client": self.per_account_and_client,
        }[scope]


# Each kind's limits. Customers are many and sign themselves up: the overall limit is higher, so that a
# spray over many accounts cannot easily shut every customer out. Sign-ups count every attempt from a client
# (accounts made, addresses found taken), each one costing a hash.
KINDS = {
    "staff": SignInLimits(),
    "customer": SignInLimits(per_client=30, overall=1_000),
    "sign_up": SignInLimits(per_client=10, overall=500, window=timedelta(hours=1)),
}
assert set(KINDS) == set(SIGN_IN_KINDS)


def minutes(limits: SignInLimits) -> str:
    """The window of `limits` as a refusal says it: '15 minutes'."""
    return f"{limits.window.total_seconds() / 60:g} minutes"


def client_of(address: str) -> str:
    """The client an attempt from `address` counts against: an IPv4 address (also one written as
    IPv6-mapped) as it is, an IPv6 address as its /64, anything else (LOCAL_CLIENT) as given."""
    address = address.strip()[:MAX_CLIENT_CHARS] or LOCAL_CLIENT
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip.packed, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


def _scopes(kind: str, account: str | None, client: str) -> list[tuple[str, str, str, str]]:
    """(kind, scope, account, client) of each scope an attempt counts in (no account scopes when `account`
    is None), in the one order every transaction locks them (so that concurrent ones never wait for each
    other in a cycle)."""
    scopes = [(kind, "all", "", ""), (kind, "client", "", client)]
    if account is not None:
        scopes += [(kind, "account", account, ""), (kind, "account_client", account, client)]
    return scopes


_LOCK_ORDER = (
    _failures.c.kind,
    case({key[1]: rank for rank, key in enumerate(_scopes("", "", ""))}, value=_failures.c.scope),
    _failures.c.account,
    _failures.c.client,
)


def forget(conn: Connection, condition: Any) -> None:
    """Delete the counts that meet `condition`, locking them in lock order first."""
    columns = (_failures.c.kind, _failures.c.scope, _failures.c.account, _failures.c.client)
    doomed = select(*columns).where(condition).order_by(*_LOCK_ORDER).with_for_update()
    conn.execute(delete(_failures).where(tuple_(*columns).in_(doomed)))


def forget_account(conn: Connection, kind: str, account: str) -> None:
    """Forget the failures counted against `account` (from every address): its lockouts are lifted."""
    forget(conn, and_(_failures.c.kind == kind, _failures.c.account == account))


def _run(engine: Engine, work: Callable[[Connection], _T]) -> _T:
    """`work(conn)` in a transaction of its own (it may roll it back), run again when the database rolled it
    back to break a deadlock or a serialization failure; MAX_TRANSACTION_RUNS runs at most."""
    runs = 1
    while True:
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if runs == MAX_TRANSACTION_RUNS or not retryable(exc):
                raise
            runs += 1


def _take_slot(
    conn: Connection, key: tuple[str, str, str, str], limit: int, now: datetime, window: timedelta
) -> bool:
    """Count one more failure under `key` unless it holds `limit` already (`take` has removed the expired
    counts first): one guarded upsert, so concurrent attempts cannot both take the last slot."""
    kind, scope, account, client = key
    upsert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(_failures)
    statement = upsert.values(
        kind=kind, scope=scope, account=account, client=client, failures=1, expires_at=now + window
    )
    taken = conn.execute(
        statement.on_conflict_do_update(
            index_elements=["kind", "scope", "account", "client"],
            set_={"failures": _failures.c.failures + 1, "expires_at": statement.excluded.expires_at},
            where=_failures.c.failures < limit,
        ).returning(_failures.c.failures)
    ).first()
    return taken is not None


def _key(key: tuple[str, str, str, str]) -> Any:
    kind, scope, account, client = key
    return and_(
        _failures.c.kind == kind,
        _failures.c.scope == scope,
        _failures.c.account == account,
        _failures.c.client == client,
    )


def _take_slots(
    conn: Connection, scopes: list[tuple[str, str, str, str]], limits: SignInLimits, now: datetime
) -> str | None:
    full = next(
        (key[1] for key in scopes if not _take_slot(conn, key, limits.of(key[1]), now, limits.window)), None
    )
    if full is not None:
        conn.rollback()  # a refused attempt takes no slot anywhere
    return full


def take(
    engine: Engine, kind: str, account: str | None, client: str, limits: SignInLimits | None = None
) -> str | None:
    """Take a slot for an attempt of `kind` on `account` (None: a kind without accounts) from `client` (as
    `client_of` gives it): None when one was taken in every scope, else the first full scope (then none is
    taken). `limits`: the kind's (KINDS) unless given."""
    limits = KINDS[kind] if limits is None else limits
    now = utcnow()
    # Expired counts go first, in a transaction of their own: locked in order, and never before the slots.
    _run(engine, lambda conn: forget(conn, and_(_failures.c.kind == kind, _failures.c.expires_at <= now)))
    return _run(engine, lambda conn: _take_slots(conn, _scopes(kind, account, client), limits, now))


def _give_back(conn: Connection, kind: str, account: str, client: str) -> None:
    *taken, account_from_client = _scopes(kind, account, client)
    for key in taken:
        conn.execute(
            update(_failures)
            .where(_key(key), _failures.c.failures > 0)
            .values(failures=_failures.c.failures - 1)
        )
    conn.execute(delete(_failures).where(_key(account_from_client)))


def give_back(engine: Engine, kind: str, account: str, client: str) -> None:
    """After a right password: the attempt's slots were no failures, and the account's failures from this
    client are forgotten (whoever signed in from there knows the password). One statement a scope, in lock
    order."""
    _run(engine, lambda conn: _give_back(conn, kind, account, client))


def account_failures(kind: str, account: Any, now: datetime) -> Any:
    """The condition of the unexpired count of failures against `account` (a column or a value) from every
    address, for a query to join."""
    return and_(
        _failures.c.kind == kind,
        _failures.c.scope == "account",
        _failures.c.account == account,
        _failures.c.client == "",
        _failures.c.expires_at > now,
    )
