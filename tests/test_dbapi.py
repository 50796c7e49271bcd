"""The hot path's statements on psycopg2 (atomicseats/dbapi.py) against the real PostgreSQL."""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import text

from atomicseats import dbapi
from atomicseats.extensions import db


def test_statements_run_in_the_sessions_transaction(ctx) -> None:
    session = db.session()
    dbapi.rows(session, "CREATE TEMP TABLE probe (n int) ON COMMIT DROP", {})
    dbapi.rows(session, "INSERT INTO probe VALUES (%(n)s)", {"n": 7})
    assert session.execute(text("SELECT n FROM probe")).scalar_one() == 7  # same connection, same transaction
    session.rollback()


def test_a_connection_that_dies_under_a_statement_is_never_handed_out_again(ctx, database_url: str) -> None:
    session = db.session()
    pid = dbapi.first(session, "SELECT pg_backend_pid() AS pid", {}).pid
    connection = session.connection()
    killer = psycopg2.connect(database_url)
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    killer.close()
    with pytest.raises((psycopg2.OperationalError, psycopg2.InterfaceError)):
        dbapi.rows(session, "SELECT 1", {})
    assert connection.invalidated
    session.rollback()
    assert dbapi.first(session, "SELECT pg_backend_pid() AS pid", {}).pid != pid
