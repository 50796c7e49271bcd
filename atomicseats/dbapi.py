"""Hot-path statements straight on psycopg2, on the session's own connection (so inside its transaction).

SQLAlchemy's statement layer (cache key, result metadata, row processors) costs CPU on top of psycopg2's own,
and a sale's requests run several statements each in the one web process whose Python is the bottleneck. The
statements of the hot paths (the token lookup, a hold, a checkout and its idempotency key, a booking poll) use
this module; everything else goes through the Session as usual. Parameters use
psycopg2's ``%(name)s`` style. Measured in docs/benchmarks.md; why: docs/decisions/0007-dbapi-prepared-statements.md.

Each statement is prepared once per connection (``PREPARE``) and then only executed: parsing and planning
were a large share of PostgreSQL's time per hold, and PostgreSQL shares the machine's cores with the web
process. After five runs PostgreSQL keeps a generic plan when it costs no more than the custom ones, so
planning stops altogether. Prepared statements are per connection and survive rollbacks, so the connection
remembers which it has (``info``; a fresh connection starts empty).

The pool does not ping a connection when it hands it out (``DB_POOL_PRE_PING``, off by default: a round trip
on every request). A connection that died while it sat in the pool (PostgreSQL restarted) shows itself on the
first statement instead, and the first statement of every API request (the bearer-token lookup) and of every
signed-in browser's request (its user, for Flask-Login) comes through here. Such a statement is run once more
on a fresh connection: nothing ran before it in its transaction, and a transaction that never committed left
nothing behind, so running it again is safe.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import psycopg2
from psycopg2.extras import NamedTupleCursor
from sqlalchemy.orm import Session, scoped_session


class _Disconnected(Exception):
    """The statement's connection was dead; carries psycopg2's error so that the caller sees the real one."""

    def __init__(self, error: psycopg2.Error):
        self.error = error


_PARAMETER = re.compile(r"%\((\w+)\)s")


class Statement:
    """A named hot-path statement; ``%(name)s`` parameters become ``$n`` in its ``PREPARE``.

    A parameter whose type PostgreSQL cannot infer from where it stands needs a cast in ``sql``
    (``%(now)s::timestamptz``): ``PREPARE`` fails otherwise, the first time the statement runs.
    """

    def __init__(self, name: str, sql: str):
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.name = name
        self.prepare = f"PREPARE {name} AS {_PARAMETER.sub(number, sql)}"
        self.execute = f"EXECUTE {name}({', '.join(f'%({n})s' for n in names)})" if names else f"EXECUTE {name}"


def rows(
    session: Session | scoped_session, statement: Statement, params: dict[str, Any], *, named: bool = True
) -> list[NamedTuple] | list[tuple]:
    """Every row of ``sql``, as named tuples (plain tuples with ``named=False``, for a statement that returns
    thousands of rows the caller turns into its own tuples); the session's transaction begins here if it has not yet.

    A connection that died under the statement is never handed out again: the pool is replaced (the others
    of its generation are most likely dead too, as after a PostgreSQL restart). If the statement was the
    first of its transaction it is run again on a fresh connection; otherwise the error reaches the caller
    (a 503 in a request).
    """
    if isinstance(session, scoped_session):  # the engine's transaction() hands out db.session itself
        session = session()
    # No transaction yet (Session.add begins one too): a rollback and a second run lose nothing.
    first_of_transaction = not session.in_transaction()
    try:
        return _execute(session, statement, params, named)
    except _Disconnected as gone:
        if not first_of_transaction:
            raise gone.error from None
    session.rollback()
    try:
        return _execute(session, statement, params, named)
    except _Disconnected as gone:
        raise gone.error from None


def first(session: Session | scoped_session, statement: Statement, params: dict[str, Any]) -> NamedTuple | None:
    found = rows(session, statement, params)
    return found[0] if found else None


def _execute(session: Session, statement: Statement, params: dict[str, Any], named: bool = True) -> list[Any]:
    connection = session.connection()
    pooled = connection.connection
    raw = pooled.dbapi_connection
    prepared = pooled.info.setdefault("prepared_statements", set())
    try:
        with raw.cursor(cursor_factory=NamedTupleCursor if named else None) as cursor:
            if statement.name not in prepared:
                cursor.execute(statement.prepare)
                prepared.add(statement.name)
            cursor.execute(statement.execute, params)
            return cursor.fetchall() if cursor.description is not None else []
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if not raw.closed:
            raise
        connection.invalidate(exc)
        connection.engine.dispose()  # public API; checked-out connections finish their work and are dropped
        raise _Disconnected(exc) from exc
