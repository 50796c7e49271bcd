"""Transaction scope for engine operations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from atomicseats.booking.locks import busy, timed_out
from atomicseats.extensions import db


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on any error, and leave the session clean either way.

    A lock wait that ran out (locks.py) leaves as 503 ``busy``: the rollback undid everything, so the caller
    may simply try again.
    """
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException as exc:
        session.rollback()
        if timed_out(exc):
            raise busy() from exc
        raise
