"""Sign-in throttling on a real merchant database (SQLite and PostgreSQL): parallel guesses check at most
the limit, limits per account and address, per address and overall, an attacker's address cannot lock the
account for everyone else, and every refusal gives one answer at one cost and is recorded."""

from __future__ import annotations

import base64
import functools
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from helpers import sign_in_refusals
from pgschema import PostgresSchema
from sqlalchemy import Engine, func, insert, select, text, update

from fpscore.db import make_engine, migrate, utcnow
from fpscore.merchant import staff
from fpscore.merchant.roles import Actor
from fpscore.merchant.schema import SignInFailures, Staff
from fpscore.merchant.staff import SignInLimits, SignInRefused

PASSWORD = "the right password"
WRONG = "a wrong password"
ADMIN = Actor.staff("ada", "admin")
PARALLEL = 16
OWASP_N = staff.SCRYPT_N  # the production cost
TEST_N = 2**14  # the throttling tests hash at this cost: their time goes to the sign-ins' database work
ACCOUNTS = {"ada": "admin"} | dict.fromkeys(["fiona", "sam", "ana", "theo", "fred", "sue"], "finance")


@functools.cache
def password_hash(n: int) -> str:
    return staff.hash_password(PASSWORD)  # at staff.SCRYPT_N, which is `n`


@pytest.fixture
def engine(backend: str, tmp_path, monkeypatch) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated merchant database with a few staff accounts, on each backend; passwords hashed at TEST_N."""
    monkeypatch.setattr(staff, "SCRYPT_N", TEST_N)
    schema = None
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'merchant.sqlite3'}")
    else:
        schema = PostgresSchema()
        engine = schema.engine(pool_size=PARALLEL + 2)
    migrate(engine, "merchant")
    with engine.begin() as conn:  # one scrypt hash for all of them: the tests' time goes to sign-ins
        conn.execute(
            insert(Staff.__table__),
            [
                {"username": name, "display_name": name, "role": role, "password_hash": password_hash(TEST_N),
                 "created_at": utcnow()}
                for name, role in ACCOUNTS.items()
            ],
        )  # fmt: skip
    yield engine
    engine.dispose()
    if schema is not None:
        schema.drop()


def wrong_passwords_checked(engine: Engine) -> int:
    return sum(detail.startswith("wrong password") for detail in sign_in_refusals(engine))


def attempt(engine: Engine, username: str, password: str, **kwargs: object) -> bool:
    """Whether sign-in let `username` in (a refusal always carries the one message)."""
    try:
        staff.sign_in(engine, username, password, **kwargs)  # type: ignore[arg-type]
    except SignInRefused as refused:
        assert str(refused) == staff.REFUSED
        return False
    return True


def test_parallel_guesses_check_at_most_the_limit_and_then_the_right_password_is_refused(engine):
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(lambda _: attempt(engine, "fiona", WRONG), range(PARALLEL)))
    assert not any(outcomes)
    assert wrong_passwords_checked(engine) == staff.LIMITS.per_account_and_client
    assert len(sign_in_refusals(engine)) == PARALLEL  # every refusal recorded, those never checked included
    assert not attempt(engine, "fiona", PASSWORD)
    assert sign_in_refusals(engine)[-1].startswith("too many failed sign-ins")
    assert [a.status for a in staff.list_staff(engine, ADMIN) if a.username == "fiona"] == ["Active"]


def test_a_locked_address_does_not_lock_the_account_out_elsewhere_until_the_account_ceiling(engine):
    limits = staff.LIMITS
    for _ in range(limits.per_account_and_client):
        assert not attempt(engine, "fiona", WRONG, client="203.0.113.7")
    assert not attempt(engine, "fiona", PASSWORD, client="203.0.113.7")
    assert attempt(engine, "fiona", PASSWORD, client="198.51.100.2")  # fiona, from her own address

    attackers = [f"203.0.113.{n}" for n in range(10, 30)]
    guesses = [client for client in attackers for _ in range(limits.per_account_and_client)]
    for client in guesses[: limits.per_account - limits.per_account_and_client]:
        assert not attempt(engine, "fiona", WRONG, client=client)
    assert wrong_passwords_checked(engine) == limits.per_account
    assert not attempt(engine, "fiona", WRONG, client="203.0.113.99")
    assert wrong_passwords_checked(engine) == limits.per_account
    assert not attempt(engine, "fiona", PASSWORD, client="198.51.100.2")  # now locked for everyone
    (fiona,) = [a for a in staff.list_staff(engine, ADMIN) if a.username == "fiona"]
    assert fiona.status == "Locked" and fiona.failed_attempts == limits.per_account

    staff.reset_password(engine, ADMIN, "fiona", PASSWORD)  # an admin lifts every lockout of the account
    assert attempt(engine, "fiona", PASSWORD, client="198.51.100.2")
    assert attempt(engine, "fiona", PASSWORD, client="203.0.113.7")


def test_a_spray_over_six_accounts_from_one_address_hits_the_address_limit(engine):
    accounts = ["fiona", "sam", "ana", "theo", "fred", "sue"]
    spray = [name for _ in range(4) for name in accounts]  # 24 guesses, 4 an account: no account lockout
    outcomes = [attempt(engine, name, WRONG, client="192.0.2.66") for name in spray]
    assert not any(outcomes)
    assert wrong_passwords_checked(engine) == staff.LIMITS.per_client
    assert not attempt(engine, "ada", PASSWORD, client="192.0.2.66")
    assert attempt(engine, "ada", PASSWORD, client="192.0.2.67")


def test_the_overall_limit_stops_guesses_from_every_address(engine):
    limits = SignInLimits(overall=6)
    for n in range(limits.overall):
        assert not attempt(engine, "sam", WRONG, client=f"192.0.2.{n}", limits=limits)
    assert not attempt(engine, "sam", WRONG, client="192.0.2.200", limits=limits)
    assert wrong_passwords_checked(engine) == limits.overall
    assert not attempt(engine, "ada", PASSWORD, client="192.0.2.201", limits=limits)
    assert sign_in_refusals(engine)[-1].startswith("too many failed sign-ins")


def test_a_right_password_gives_its_slots_back(engine):
    limits = SignInLimits(overall=3)
    for _ in range(limits.overall + 1):
        assert attempt(engine, "ada", PASSWORD, limits=limits)
    for n in range(limits.overall):
        assert not attempt(engine, "sam", WRONG, client=f"192.0.2.{n}", limits=limits)
    assert not attempt(engine, "ada", PASSWORD, limits=limits)


def test_failures_are_forgotten_a_window_after_the_last(engine):
    limits = SignInLimits(window=timedelta(seconds=1))
    for _ in range(limits.per_account_and_client):
        assert not attempt(engine, "theo", WRONG, limits=limits)
    assert not attempt(engine, "theo", PASSWORD, limits=limits)
    time.sleep(limits.window.total_seconds())
    assert attempt(engine, "theo", PASSWORD, limits=limits)


def _median_seconds(engine: Engine, cases: dict[str, tuple[str, str, str]]) -> dict[str, float]:
    """Each case's (username, password, client) refused sign-in, timed 3 times: the median of each. In
    rounds, every case once a round, so that a busy moment of the machine slows them alike."""
    timings: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(3):
        for case, (username, password, client) in cases.items():
            started = time.perf_counter()
            assert not attempt(engine, username, password, client=client)
            timings[case].append(time.perf_counter() - started)
    return {case: statistics.median(seconds) for case, seconds in timings.items()}


def test_unknown_wrong_locked_and_disabled_answer_alike_at_one_cost(engine):
    staff.set_disabled(engine, ADMIN, "sue", True)
    for _ in range(staff.LIMITS.per_account_and_client):
        attempt(engine, "fred", WRONG, client="192.0.2.9")
    others = _median_seconds(
        engine,
        {
            "wrong": ("sam", WRONG, "192.0.2.1"),
            "unknown": ("nobody", PASSWORD, "192.0.2.2"),
            "locked": ("fred", PASSWORD, "192.0.2.9"),
            "disabled": ("sue", PASSWORD, "192.0.2.3"),
        },
    )
    wrong = others.pop("wrong")
    for case, seconds in others.items():
        assert wrong / 3 < seconds < wrong * 3, (case, seconds, wrong)
    details = sign_in_refusals(engine)
    for reason in ("unknown user", "too many failed sign-ins", "disabled account", "wrong password"):
        assert any(detail.startswith(reason) for detail in details), reason


def test_a_wrong_password_on_a_weaker_stored_hash_costs_what_an_unknown_name_costs(engine, monkeypatch):
    """Accounts keep their old, cheaper hash until their owner signs in; a wrong password on one must not
    answer faster than an unknown name, or the time would tell which accounts exist."""
    monkeypatch.setattr(staff, "SCRYPT_N", TEST_N * 4)  # the stored hashes (TEST_N) are now the weaker
    timings = _median_seconds(
        engine, {"wrong": ("sam", WRONG, "192.0.2.11"), "unknown": ("nobody", WRONG, "192.0.2.12")}
    )
    wrong, unknown = timings["wrong"], timings["unknown"]
    assert unknown / 1.5 < wrong, (wrong, unknown)


def test_concurrent_right_and_wrong_passwords_from_one_address_each_get_their_answer(engine, monkeypatch):
    """Sign-ins sharing an address take and give back the same slots at once: none may fail or deadlock,
    and the overall count ends at the wrong passwords (every right one gave its slot back)."""
    monkeypatch.setattr(staff, "SCRYPT_N", 2)  # a cheap hash: the time goes to the database
    with engine.begin() as conn:
        conn.execute(update(Staff.__table__).values(password_hash=staff.hash_password(PASSWORD)))
    limits = SignInLimits(per_account_and_client=10**6, per_account=10**6, per_client=10**6, overall=10**6)
    tries = [(("fiona", "sam")[n % 4 // 2], n % 2 == 0) for n in range(160)]  # (user name, right password)

    def outcome(attempt_: tuple[str, bool]) -> bool:
        name, right = attempt_
        return attempt(engine, name, PASSWORD if right else WRONG, client="192.0.2.5", limits=limits)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(outcome, tries))
    assert outcomes == [right for _, right in tries]
    failures = SignInFailures.__table__
    with engine.connect() as conn:
        overall = conn.execute(select(failures.c.failures).where(failures.c.scope == "all")).scalar_one()
    assert overall == sum(not right for _, right in tries)


def _blocks_someone(engine: Engine, pid: int) -> bool:
    """Whether PostgreSQL backend `pid` holds a lock another backend waits for."""
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    with engine.connect() as conn:
        return bool(conn.execute(waiting, {"pid": pid}).scalar_one())


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_sign_in_rolled_back_to_break_a_deadlock_runs_again(engine):
    """Another transaction holds fiona's count from this address, then wants the overall count that a
    sign-in holding it waits behind: PostgreSQL rolls the sign-in back (it waited first) and it runs again,
    taking one slot."""
    failures = SignInFailures.__table__
    assert not attempt(engine, "fiona", WRONG, client="192.0.2.8")
    with engine.connect() as other, other.begin(), ThreadPoolExecutor(1) as pool:
        other.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")  # the sign-in finds the cycle first
        blocker = other.execute(select(func.pg_backend_pid())).scalar_one()
        lock = update(failures).values(failures=failures.c.failures)
        other.execute(lock.where(failures.c.scope == "account_client"))
        signing_in = pool.submit(attempt, engine, "fiona", WRONG, client="192.0.2.8")
        while not _blocks_someone(engine, blocker):
            assert not signing_in.done(), signing_in.result()
            time.sleep(0.01)
        other.execute(lock.where(failures.c.scope == "all"))  # waits until the sign-in is rolled back
        other.commit()
        assert not signing_in.result()
    assert wrong_passwords_checked(engine) == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.max(failures.c.failures))).scalar_one() == 2


def test_an_ipv6_client_is_counted_by_its_64_and_an_ipv4_mapped_one_by_its_ipv4_address(engine):
    limits = staff.LIMITS
    for n in range(1, limits.per_account_and_client + 1):  # a new address of one /64 for each guess
        assert not attempt(engine, "fiona", WRONG, client=f"2001:db8:0:1::{n:x}")
    assert not attempt(engine, "fiona", PASSWORD, client="2001:db8:0:1:ffff:ffff:ffff:ffff")
    assert sign_in_refusals(engine)[-1] == (
        "too many failed sign-ins (account and client) from 2001:db8:0:1:ffff:ffff:ffff:ffff"
    )
    assert attempt(engine, "fiona", PASSWORD, client="2001:db8:0:2::1")  # another /64: another client

    for _ in range(limits.per_account_and_client):
        assert not attempt(engine, "sam", WRONG, client="::ffff:192.0.2.44")
    assert not attempt(engine, "sam", PASSWORD, client="192.0.2.44")


def stored_hash(engine: Engine, username: str) -> tuple[str, object]:
    with engine.connect() as conn:
        row = conn.execute(
            select(Staff.password_hash, Staff.credentials_changed_at).where(Staff.username == username)
        ).one()
    return row.password_hash, row.credentials_changed_at


def test_passwords_are_hashed_at_owasps_cost_and_a_weaker_hash_is_made_again_at_sign_in(engine, monkeypatch):
    monkeypatch.setattr(staff, "SCRYPT_N", OWASP_N)
    assert (OWASP_N, staff.SCRYPT_R, staff.SCRYPT_P) == (2**17, 8, 1)
    made = staff.hash_password(PASSWORD)
    assert made.startswith(f"scrypt${2**17}$8$1$") and staff.check_password(PASSWORD, made)
    assert not staff.check_password(WRONG, made)

    weak, changed_at = stored_hash(engine, "sam")  # made at TEST_N
    assert weak.startswith(f"scrypt${TEST_N}$") and staff.weaker_than_current(weak)
    assert (
        not attempt(engine, "sam", WRONG) and stored_hash(engine, "sam")[0] == weak
    )  # no rehash on a refusal
    started = time.perf_counter()
    assert attempt(engine, "sam", PASSWORD)
    rehashed = time.perf_counter() - started
    strong, still_changed_at = stored_hash(engine, "sam")
    assert strong.startswith(f"scrypt${2**17}$8$1$") and not staff.weaker_than_current(strong)
    assert still_changed_at == changed_at  # the same credentials: sessions stay
    started = time.perf_counter()
    assert attempt(engine, "sam", PASSWORD) and stored_hash(engine, "sam")[0] == strong  # made once
    print(f"sign-in with a rehash {rehashed:.2f} s, at OWASP's cost {time.perf_counter() - started:.2f} s")


def test_a_stored_hash_asking_for_more_memory_than_allowed_never_matches():
    n = 2**21  # 2 GiB at r=8
    salt, digest = (base64.b64encode(b"x" * size).decode() for size in (16, 32))
    started = time.perf_counter()
    assert not staff.check_password(PASSWORD, f"scrypt${n}$8$1${salt}${digest}")
    assert time.perf_counter() - started < 1  # refused before any work
