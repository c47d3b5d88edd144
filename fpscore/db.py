"""Engines and transactions for our databases (SQLite and PostgreSQL), and the Alembic runner.

SQLite runs in WAL mode with `synchronous=FULL`, so an acknowledged payment survives power loss, and
writing transactions start with BEGIN IMMEDIATE so that concurrent writers queue on the database lock
instead of failing half-way. Read-only work uses `read_only(engine)` and starts a deferred transaction.
A SQLite database file is made readable by its owner only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, Connection, DateTime, Engine, Integer, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 60_000

# What both databases' schemas share: 64-bit keys (SQLite only autoincrements INTEGER keys) and the
# constraint names their migrations were generated with.
BigId = BigInteger().with_variant(Integer, "sqlite")
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _private_database_file(path: Path) -> None:
    """Make the SQLite file (and a missing folder for it) its owner's alone, 0600 (0700), or narrow an
    existing one and its -wal and -shm files: they hold secrets. SQLite gives the -wal and -shm files it
    creates the database file's mode, so the process umask is left alone."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # an empty file is an empty database
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            pass


def make_engine(url: str, *, statement_timeout_s: float | None = None, **kwargs: object) -> Engine:
    """An engine for `url`; SQLite gets its pragmas and IMMEDIATE write transactions. `statement_timeout_s`
    (PostgreSQL): PostgreSQL cancels a statement running or waiting on a lock longer (SQLite's writers
    wait for its lock at most SQLITE_BUSY_TIMEOUT_MS already)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if statement_timeout_s is not None:  # beside the URL's own options (a search_path, say)
            given = parsed.query.get("options", ())
            options = [given] if isinstance(given, str) else list(given)
            options.append(f"-c statement_timeout={round(statement_timeout_s * 1000)}")
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "options": " ".join(options)}  # type: ignore[dict-item]
        return create_engine(url, **kwargs)  # type: ignore[arg-type]
    if parsed.database and parsed.database != ":memory:":
        _private_database_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)  # type: ignore[arg-type]

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("fps_read_only") else "IMMEDIATE"
        # Straight to the driver: this runs before every transaction, the hot path included.
        conn.connection.dbapi_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]

    return engine


@contextmanager
def read_only(engine: Engine, *, snapshot: bool = False) -> Iterator[Connection]:
    """A short read-only transaction (deferred on SQLite, so it never waits for writers). `snapshot`: all
    its statements see the database at one moment (REPEATABLE READ on PostgreSQL; a SQLite read
    transaction always does)."""
    with engine.connect() as conn:
        conn = conn.execution_options(fps_read_only=True)
        if snapshot and not is_sqlite(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def retryable(exc: DBAPIError) -> bool:
    """Deadlock or serialization failure on PostgreSQL, a busy database on SQLite: the transaction was
    rolled back and is safe to run again."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def migrate(engine: Engine, tree: str, revision: str = "head", *, downgrade: bool = False) -> None:
    """Bring the database of `engine` up (or down) to `revision` with the Alembic tree of `fpscore.<tree>`."""
    config = Config()
    config.set_main_option("script_location", str(files(f"fpscore.{tree}") / "migrations"))
    with engine.begin() as conn:
        if not is_sqlite(conn):  # several workers may start at once: one migrates, the others wait
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('fpscore.{tree}'))")
        config.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(config, revision)
