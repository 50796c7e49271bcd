"""Transaction scope for engine operations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from atomicseats.extensions import db


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on any error, and leave the session clean either way."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
