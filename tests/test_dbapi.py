"""The hot path's statements on psycopg2 (atomicseats/dbapi.py) against the real PostgreSQL."""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.extensions import db
from atomicseats.models import User
from tests.services import wait_for
from tests.web.test_pages import sign_in

_PID = dbapi.Statement("test_pid", "SELECT pg_backend_pid() AS pid, %(a)s::int + %(b)s AS answer")
_ONE = dbapi.Statement("test_one", "SELECT 1 AS one")


def test_statements_run_in_the_sessions_transaction(ctx) -> None:
    session = db.session()
    session.execute(text("CREATE TEMP TABLE probe (n int) ON COMMIT DROP"))
    dbapi.rows(session, dbapi.Statement("test_probe_insert", "INSERT INTO probe VALUES (%(n)s)"), {"n": 7})
    assert session.execute(text("SELECT n FROM probe")).scalar_one() == 7  # same connection, same transaction
    session.rollback()


def test_a_statement_is_prepared_once_per_connection_and_its_parameters_keep_their_names(ctx) -> None:
    with db.engine.connect() as connection:
        session = Session(bind=connection)  # one connection throughout, across the rollback
        first = dbapi.first(session, _PID, {"b": 1, "a": 41})
        assert first.answer == 42
        session.rollback()  # prepared statements outlive the transaction
        again = dbapi.first(session, _PID, {"a": 2, "b": 3})
        assert (again.pid, again.answer) == (first.pid, 5)
        prepared = session.execute(
            text("SELECT statement FROM pg_prepared_statements WHERE name = 'test_pid'")
        ).scalar_one()
        assert prepared.endswith("SELECT pg_backend_pid() AS pid, $1::int + $2 AS answer")
        session.close()


def test_a_connection_that_dies_under_a_statement_is_never_handed_out_again(ctx, database_url: str) -> None:
    session = db.session()
    pid = dbapi.first(session, _PID, {"a": 0, "b": 0}).pid
    connection = session.connection()
    _terminate(database_url, {pid})
    with pytest.raises((psycopg2.OperationalError, psycopg2.InterfaceError)):
        dbapi.rows(session, _ONE, {})
    assert connection.invalidated
    session.rollback()
    # the fresh connection has none of the old one's prepared statements and prepares its own
    assert dbapi.first(session, _PID, {"a": 0, "b": 0}).pid != pid


def _pool_of_dead_connections(app, database_url: str, size: int = 3) -> set[int]:
    """Leave the app's pool holding only connections whose server processes are gone, as after a restart."""
    with app.app_context():
        db.engine.dispose()
        held = [db.engine.connect() for _ in range(size)]
        pids = {c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in held}
        for c in held:
            c.close()  # back to the pool, idle
    _terminate(database_url, pids)
    return pids


def _terminate(database_url: str, pids: set[int]) -> None:
    """End these PostgreSQL server processes, as a restart would, and wait until they are gone."""
    killer = psycopg2.connect(database_url)
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (list(pids),))

        def all_gone() -> bool:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),))
            return cursor.fetchone()[0] == 0

        wait_for(all_gone, 10, "the terminated server processes to exit")
    killer.close()


def test_the_first_statement_of_a_transaction_runs_again_on_a_fresh_connection(app, database_url: str) -> None:
    dead = _pool_of_dead_connections(app, database_url)
    with app.app_context():
        session = db.session()
        row = dbapi.first(session, _PID, {"a": 41, "b": 1})
        assert row.answer == 42
        assert row.pid not in dead
        session.rollback()
        db.session.remove()


def test_an_api_request_right_after_a_database_restart_is_answered(app, database_url: str, factory, api) -> None:
    user = factory.user()
    as_user = api.as_(user)
    _pool_of_dead_connections(app, database_url)
    response = as_user.get("/me")
    assert response.status == 200, response.body
    assert response.body["email"] == user.email


def test_a_signed_in_page_right_after_a_database_restart_is_answered(app, database_url: str, factory, client) -> None:
    """Flask-Login's user load is such a page's first statement, and it goes through dbapi like the token lookup."""
    user = factory.user()
    sign_in(client, user)
    _pool_of_dead_connections(app, database_url)
    response = client.get("/bookings")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user.name in response.get_data(as_text=True)


def test_a_statement_after_unflushed_changes_is_not_run_again(app, database_url: str) -> None:
    """A rollback before the second run would drop the caller's pending objects without a word."""
    _pool_of_dead_connections(app, database_url)
    with app.app_context():
        session = db.session()
        pending = User(email="pending@example.com", name="Pending", password_hash="x", role="attendee")
        session.add(pending)
        with pytest.raises((psycopg2.OperationalError, psycopg2.InterfaceError)):
            dbapi.first(session, _ONE, {})
        assert pending in session.new  # still the caller's to keep or to drop
        session.rollback()
        db.session.remove()
