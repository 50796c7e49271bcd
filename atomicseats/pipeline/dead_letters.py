"""Dead letters: messages that failed every retry, parked in PostgreSQL for an admin to read and replay.

Jobs park them (``jobs.send_notification``); this module is the one place that lists and replays them, for the
API and anything else an admin uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, NotFound
from atomicseats.extensions import db
from atomicseats.pipeline import jobs


def page(limit: int, before_id: int | None, include_replayed: bool) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, keyset-paged on id: the letters and the id the next page starts below (None: no more)."""
    rows = db.session.execute(
        text(
            "SELECT id, kind, message_id, payload, error, attempts, created_at, replayed_at FROM dead_letters "
            "WHERE (:all OR replayed_at IS NULL) AND (CAST(:c AS bigint) IS NULL OR id < :c) "
            "ORDER BY id DESC LIMIT :n"
        ),
        {"all": include_replayed, "c": before_id, "n": limit + 1},
    ).all()
    db.session.rollback()
    items = [
        {
            "id": r.id,
            "kind": r.kind,
            "message_id": r.message_id,
            "payload": r.payload,
            "error": r.error,
            "attempts": r.attempts,
            "created_at": r.created_at.isoformat(),
            "replayed_at": r.replayed_at.isoformat() if r.replayed_at else None,
        }
        for r in rows[:limit]
    ]
    return items, rows[limit - 1].id if len(rows) > limit else None


def replay(letter_id: int) -> int:
    """Send a parked message again as a fresh job with the usual retries; 409 if it was replayed already.

    The job is enqueued inside the transaction that marks the letter replayed: if enqueueing fails nothing is
    marked, and if the commit fails the job still sends at most once (emails are idempotent on message id).
    """
    with transaction() as session:
        row = session.execute(
            text(
                "UPDATE dead_letters SET replayed_at = now() WHERE id = :id AND replayed_at IS NULL "
                "RETURNING id, kind, message_id, payload"
            ),
            {"id": letter_id},
        ).first()
        if row is None:
            if not session.scalar(text("SELECT 1 FROM dead_letters WHERE id = :id"), {"id": letter_id}):
                raise NotFound("No such dead letter.")
            raise Conflict("This dead letter was already replayed.", code="already_replayed")
        jobs.enqueue_notification(row.payload, row.message_id, job_id=f"notify-{row.message_id}-replay-{row.id}")
    return row.id
