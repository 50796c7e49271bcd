"""Locks: each event's gate lock, and the bound on how long any lock is waited for.

Sales go on while the scheduler rebuilds an event's Redis gate (reconcile.py), so one PostgreSQL advisory lock
per event keeps a rebuild and the gate's writers apart. A transaction that changes an event's holds or bookings
takes it shared (:func:`lock_gates`; hold requests and confirmations inside their first statement, through
:func:`gate_lock_key`) before it writes to the gate or commits; a rebuild takes it exclusively
(:func:`lock_gate_for_rebuild`) from its PostgreSQL snapshot until Redis has the rebuilt gate. So no claim is
in Redis but not yet committed when the snapshot is taken (the rebuild would drop it), and no release,
checkout, booking or cancellation commits between the snapshot and the Redis write (the rebuild would bring
back what it undid). Writers never wait for each other on this lock, only for a rebuild of their event. A
writer that already holds row locks when it asks may form a cycle with a rebuild waiting in the queue;
PostgreSQL's deadlock check resolves such a cycle by letting the shared request go first, after
``deadlock_timeout`` (1 s), and no transaction fails.

No lock is waited for without bound. Every connection of the app sets PostgreSQL's ``lock_timeout``
(``LOCK_TIMEOUT_SECONDS``) once, when it connects (:func:`bound_lock_waits`): the hot statements take their
locks inside one prepared round trip, where a ``SET LOCAL`` would cost a second one. A wait that runs out
(gate, row or idempotency-key lock) rolls the transaction back and becomes :func:`busy`, 503 ``busy`` with
``Retry-After``, instead of a request that hangs while a rebuild or a stuck transaction holds the lock. The
engine takes no Redis locks: the gate's Lua scripts are atomic, and its markers (re-drive, push) are
``SET NX`` keys that expire by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg2.errors
import sqlalchemy.exc
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from atomicseats.exceptions import Busy

# Seconds a caller refused with ``busy`` should wait: about one rebuild of a large event's gate.
BUSY_RETRY_AFTER = 1


def gate_lock_key(event_id_sql: str) -> str:
    """The SQL expression of the gate lock's key for the event whose id is the SQL ``event_id_sql``.

    A 64-bit hash in the advisory lock space of one ``bigint``, so any event id fits.
    """
    return f"hashtextextended('gate:' || {event_id_sql}, 0)"


def lock_gates(session: Session, event_ids: Iterable[int]) -> None:
    """Take the gate locks of these events, shared, until the transaction ends.

    In id order (``unnest`` keeps the array's), so that two writers of several events never deadlock.
    """
    ids = sorted(set(event_ids))
    if ids:
        session.execute(
            text(f"SELECT pg_advisory_xact_lock_shared({gate_lock_key('e')}) FROM unnest(CAST(:ids AS bigint[])) AS e"),
            {"ids": ids},
        )


def lock_gate_for_rebuild(session: Session, event_id: int) -> None:
    """Take the event's gate lock exclusively until the transaction ends: no writer of the event is in flight."""
    session.execute(text(f"SELECT pg_advisory_xact_lock({gate_lock_key(':e')})"), {"e": event_id})


def bound_lock_waits(engine: Engine, seconds: float) -> None:
    """Make every new connection of ``engine`` give up waiting for a lock after ``seconds``."""
    milliseconds = max(1, round(seconds * 1000))

    @event.listens_for(engine, "connect")
    def set_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {milliseconds}")
        dbapi_connection.commit()  # psycopg2 opened a transaction for the SET; a rollback would undo it


def timed_out(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL giving up a lock wait (from the Session or from a hot-path statement)."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        error = error.orig
    return isinstance(error, psycopg2.errors.LockNotAvailable)


def busy() -> Busy:
    """The answer to a lock wait that ran out: nothing was changed, and the same request may succeed soon."""
    return Busy(
        "This is busy right now (another operation holds what it needs); try again in a moment.",
        retry_after=BUSY_RETRY_AFTER,
    )
