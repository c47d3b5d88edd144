"""Statements of the payment path run on the driver's cursor: compiled once per dialect, not per call.

SQLAlchemy's `Connection.execute` costs tens of microseconds of Python per statement (its compiled
cache lookup, execution context, result set-up) on top of the driver's own cost; a Pay runs about eight
statements, so that overhead is most of a Pay's CPU. `Compiled` keeps SQLAlchemy's statement as the one
definition and its types' conversions (a `UtcDateTime` in and out), and skips the rest: the SQL string
and converters are made once per dialect, each call is the driver's `execute`. A driver error is raised
as SQLAlchemy's DBAPIError, as `Connection.execute` would, and a lost connection is invalidated.
Everything off the payment path keeps using `Connection.execute`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Converter = Callable[[Any], Any] | None
PIPELINES = ("psycopg",)  # the drivers `pipeline` works with


@dataclass(frozen=True, slots=True)
class _Form:
    sql: str
    positional: bool
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # bind name and its conversion, where needed
    # Positional paramstyle: each placeholder's bind name and conversion (None: the value as it is).
    plan: tuple[tuple[str, Converter], ...]
    row: Callable[..., Any] | None  # a named tuple of the result columns (None: no rows)
    results: tuple[Converter, ...] | None  # each result column's conversion (None: none converts)


class Compiled:
    """`statement` run through the driver's cursor (see the module's docstring). `keys`: the columns an
    INSERT or UPDATE without values sets, as `Connection.execute` would take them from the parameters."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None):
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._forms: dict[str, _Form] = {}

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.keys)
            binds = tuple(compiled._bind_processors.items())  # noqa: SLF001 - what execute() applies
            columns = compiled._result_columns  # noqa: SLF001
            row = namedtuple("Row", [column[0] for column in columns]) if columns else None  # noqa: PYI024
            results = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)  # noqa: SLF001
            results = results if any(results) else None
            positional = compiled.positiontup is not None
            convert = dict(binds)
            plan = tuple((name, convert.get(name)) for name in compiled.positiontup or ())
            form = _Form(compiled.string, positional, binds, plan, row, results)
            self._forms[dialect.name] = form
        return form

    def _params(self, form: _Form, params: Mapping[str, Any]) -> Any:
        if form.positional:
            return tuple(
                [params[name] if convert is None else convert(params[name]) for name, convert in form.plan]
            )
        if form.binds:
            params = dict(params)
            for name, convert in form.binds:
                params[name] = convert(params[name])
        return params

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run with `params`; the rows it returns, as named tuples."""
        form = self._form(conn.dialect)
        return self._fetch(form, _on_driver(conn, form.sql, self._params(form, params)))

    @staticmethod
    def _fetch(form: _Form, cursor: Any) -> list[Any]:
        if form.row is None:
            return []
        rows, row, results = cursor.fetchall(), form.row, form.results
        if results is None:
            return [row(*raw) for raw in rows]
        return [row(*[v if f is None else f(v) for f, v in zip(results, raw, strict=True)]) for raw in rows]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row it returns, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run once per parameter set (executemany); no rows."""
        form = self._form(conn.dialect)
        _on_driver(conn, form.sql, [self._params(form, p) for p in params], many=True)


@contextmanager
def pipeline(conn: Connection) -> Iterator[Callable[[Compiled, Mapping[str, Any]], Callable[[], Any]]]:
    """Within: `send(statement, params)` sends a statement at once without waiting for its result
    (psycopg's pipeline mode, `PIPELINES`: the server works on it meanwhile, and on the BEGIN before the
    first), and returns a call that gives its first row (or None) once the block has ended: the results
    come back then, in one round trip for all. A driver error is raised as DBAPIError, as by `_on_driver`;
    it does not tell which statement failed, and the transaction is lost."""
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    ended = False

    def send(statement: Compiled, params: Mapping[str, Any]) -> Callable[[], Any]:
        form = statement._form(conn.dialect)  # noqa: SLF001
        cursor = dbapi_connection.cursor()
        cursor.execute(form.sql, statement._params(form, params))  # noqa: SLF001

        def first() -> Any:
            assert ended, "a pipelined statement's row is read after the pipeline"
            rows = Compiled._fetch(form, cursor)  # noqa: SLF001 - arrived: reading takes no round trip
            return rows[0] if rows else None

        return first

    try:
        with dbapi_connection.pipeline():
            yield send
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _dbapi_error(conn, exc, "pipeline", None, None) from exc
    ended = True


def execute_driver(conn: Connection, sql: str) -> None:
    """One parameterless statement (a SAVEPOINT) straight on the driver's cursor."""
    _on_driver(conn, sql, None)


def _on_driver(conn: Connection, sql: str, params: Any, *, many: bool = False) -> Any:
    """`sql` with `params` (None: none; `many`: a list of sets, executemany) on a new cursor of the
    connection's driver; the cursor. A driver error is raised as SQLAlchemy's DBAPIError, and a lost
    connection is invalidated, as `execute` does."""
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        elif params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _dbapi_error(conn, exc, sql, params, cursor) from exc
    return cursor


def _dbapi_error(conn: Connection, exc: Exception, sql: str, params: Any, cursor: Any) -> DBAPIError:
    """The driver's error `exc` as SQLAlchemy's DBAPIError, as `execute` raises it; a lost connection is
    invalidated."""
    lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql, params, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=conn.dialect
    )
