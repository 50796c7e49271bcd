"""Hot-path statements straight on psycopg2, on the session's own connection (so inside its transaction).

SQLAlchemy's statement layer costs about 0.1 ms of CPU per statement on these machines (cache key, result
metadata, row processors) on top of psycopg2's own cost, and a seat hold runs several statements in the one
web process whose Python is the bottleneck (README, "Benchmarks"). The few statements every hold runs use
this module; everything else goes through the Session as usual. Parameters use psycopg2's ``%(name)s`` style.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg2
from psycopg2.extras import NamedTupleCursor
from sqlalchemy.orm import Session


def rows(session: Session, sql: str, params: dict[str, Any]) -> list[NamedTuple]:
    """Every row of ``sql``, as named tuples; the session's transaction begins here if it has not yet.

    A connection that died under the statement is invalidated as SQLAlchemy does for its own statements, so
    the pool never hands it out again; the error itself reaches the caller (a 503 in a request).
    """
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    try:
        with raw.cursor(cursor_factory=NamedTupleCursor) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if raw.closed:
            connection.invalidate(exc)
        raise


def first(session: Session, sql: str, params: dict[str, Any]) -> NamedTuple | None:
    found = rows(session, sql, params)
    return found[0] if found else None
