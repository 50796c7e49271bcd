"""Dead letters: jobs that failed every retry, parked in PostgreSQL for an admin to read and replay.

Two kinds are parked. An email (``notification``) is parked by ``jobs.send_notification`` after RQ's last
retry; a booking confirmation (``booking``) by ``jobs.confirm_booking`` once it has raised on
``CONFIRM_MAX_ATTEMPTS`` deliveries (the dispatcher's job and the scheduler's re-drives). This module is the
one place that parks, lists and replays them, for the API, the admin pages and the jobs alike.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_, update

from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Invalid, NotFound
from atomicseats.extensions import db, redis_ext
from atomicseats.models import User
from atomicseats.models.messaging import DeadLetter

log = logging.getLogger(__name__)
EMAIL = "notification"
BOOKING = "booking"


@dataclass(frozen=True)
class Filters:
    """What the list shows: one kind or both, one event, a creation window ``[since, until)``, replayed or not
    (None: both)."""

    kind: str | None = None
    event_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    replayed: bool | None = None


@dataclass
class Replayed:
    """The outcome of one replay request, letter by letter."""

    done: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


# --- parking (workers) ----------------------------------------------------------------------------------


def park_email(message_id: str, payload: dict[str, Any], error: str, attempts: int) -> None:
    """Park an email that failed its last retry; its event (if the payload names one) is kept for the filter."""
    event_id = payload.get("event_id")
    with transaction() as session:
        _insert(session, EMAIL, message_id, payload, error, attempts, event_id if isinstance(event_id, int) else None)


def _insert(
    session: Any, kind: str, message_id: str, payload: dict[str, Any], error: str, attempts: int, event_id: int | None
) -> None:
    session.execute(
        text(
            "INSERT INTO dead_letters (kind, message_id, payload, error, attempts, event_id, created_at) "
            "VALUES (:k, :m, CAST(:p AS jsonb), :e, :a, :ev, now())"
        ),
        {"k": kind, "m": message_id, "p": json.dumps(payload), "e": error[:2000], "a": attempts, "ev": event_id},
    )


def failed_attempt(booking_id: str) -> int:
    """Count one more confirmation of this booking that raised; how many have so far.

    The count lives in Redis for a day: it only decides when to stop re-driving, so a wiped Redis costs a few
    more attempts, never a booking. An admin's replay starts it again.
    """
    key = _failures_key(booking_id)
    with redis_ext.client.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 24 * 3600)
        count, _ = pipe.execute()
    return int(count)


def park_booking(booking_id: str, message_id: str | None, error: str, attempts: int) -> bool:
    """Park a booking whose confirmation keeps raising, so the re-drive leaves it alone; False if it is no
    longer pending (another delivery decided it meanwhile) or is parked already.

    The booking row is locked first, so two failing deliveries park it once. It stays ``pending``: its hold
    keeps its seats until the checkout grace ends, and a replay confirms it (or fails it as ``hold_expired``
    once the grace is over), which tells the buyer either way.
    """
    with transaction() as session:
        booking = session.execute(
            text("SELECT event_id, user_id, status FROM bookings WHERE id = CAST(:b AS uuid) FOR UPDATE"),
            {"b": booking_id},
        ).first()
        if booking is None or booking.status != "pending" or _open_letter(session, BOOKING, booking_id):
            return False
        payload = {"booking_id": booking_id, "event_id": booking.event_id, "user_id": booking.user_id}
        if message_id is not None:
            payload["message_id"] = message_id
        _insert(session, BOOKING, booking_id, payload, error, attempts, booking.event_id)
    redis_ext.client.delete(_failures_key(booking_id))
    return True


def _failures_key(booking_id: str) -> str:
    return redis_ext.key("confirm-failures", booking_id)


def _open_letter(session: Any, kind: str, message_id: str) -> bool:
    return bool(
        session.scalar(
            text("SELECT 1 FROM dead_letters WHERE message_id = :m AND kind = :k AND replayed_at IS NULL LIMIT 1"),
            {"m": message_id, "k": kind},
        )
    )


# --- reading (API, admin pages) -------------------------------------------------------------------------


def page(
    filters: Filters, limit: int, cursor: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Newest first, keyset-paged on ``(created_at, id)``: a page of letters and the position the next one
    starts after (None: no more). Each filter has an index that returns rows in this order, so a page reads
    about a page of rows however many letters there are (tests/test_query_plans.py)."""
    query = (
        select(DeadLetter, User.email.label("replayed_by_email"))
        .outerjoin(User, User.id == DeadLetter.replayed_by)
        .order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc())
        .limit(limit + 1)
    )
    if filters.kind is not None:
        query = query.where(DeadLetter.kind == filters.kind)
    if filters.event_id is not None:
        query = query.where(DeadLetter.event_id == filters.event_id)
    if filters.since is not None:
        query = query.where(DeadLetter.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(DeadLetter.created_at < filters.until)
    if filters.replayed is not None:
        query = query.where(
            DeadLetter.replayed_at.is_not(None) if filters.replayed else DeadLetter.replayed_at.is_(None)
        )
    if cursor is not None:
        created_at, letter_id = _position(cursor)
        query = query.where(tuple_(DeadLetter.created_at, DeadLetter.id) < (created_at, letter_id))
    rows = db.session.execute(query).all()
    items = [_render(r.DeadLetter, r.replayed_by_email) for r in rows[:limit]]  # before the rollback expires them
    db.session.rollback()
    more = len(rows) > limit
    return items, {"created_at": items[-1]["created_at"], "id": items[-1]["id"]} if more else None


def _position(cursor: dict[str, Any]) -> tuple[datetime, int]:
    try:
        created_at = datetime.fromisoformat(str(cursor["created_at"]))
        letter_id = int(cursor["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid.field("cursor", "is not a cursor this API gave out") from exc
    if created_at.tzinfo is None:
        raise Invalid.field("cursor", "is not a cursor this API gave out")
    return created_at, letter_id


def get(letter_id: int) -> dict[str, Any]:
    """One letter with its payload and error; 404 if there is none."""
    row = db.session.execute(
        select(DeadLetter, User.email.label("replayed_by_email"))
        .outerjoin(User, User.id == DeadLetter.replayed_by)
        .where(DeadLetter.id == letter_id)
    ).first()
    letter = _render(row.DeadLetter, row.replayed_by_email) if row is not None else None
    db.session.rollback()
    if letter is None:
        raise NotFound("No such dead letter.")
    return letter


def _render(letter: DeadLetter, replayed_by_email: str | None) -> dict[str, Any]:
    return {
        "id": letter.id,
        "kind": letter.kind,
        "message_id": letter.message_id,
        "event_id": letter.event_id,
        "payload": letter.payload,
        "error": letter.error,
        "attempts": letter.attempts,
        "created_at": letter.created_at.isoformat(),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "replayed_by": replayed_by_email,
    }


# --- replaying (API, admin pages) -----------------------------------------------------------------------


def replay(letter_ids: list[int], replayed_by: int) -> Replayed:
    """Run each parked job again as a fresh job (an email with fresh retries, a booking with fresh attempts),
    recording who replayed it and when.

    The database decides who replays a letter: one conditional UPDATE marks the letters that are still open
    and returns only those, so replaying twice, or two admins at once, enqueues each job once. The jobs are
    enqueued inside that transaction: if enqueueing fails nothing is marked, and if the commit fails a job
    that ran anyway is harmless (emails are idempotent on their message id, confirmations on the booking).
    """
    from atomicseats.pipeline import jobs  # jobs parks through this module

    wanted = sorted(set(letter_ids))
    result = Replayed()
    with transaction() as session:
        rows = session.execute(
            update(DeadLetter)
            .where(DeadLetter.id.in_(wanted), DeadLetter.replayed_at.is_(None))
            .values(replayed_at=text("now()"), replayed_by=replayed_by)
            .returning(DeadLetter.id, DeadLetter.kind, DeadLetter.message_id, DeadLetter.payload)
        ).all()
        for row in sorted(rows, key=lambda r: r.id):
            if row.kind == BOOKING:
                redis_ext.client.delete(_failures_key(row.message_id))
                jobs.enqueue_confirm(row.message_id, redrive=True)
            else:
                jobs.enqueue_notification(
                    row.payload, row.message_id, job_id=f"notify-{row.message_id}-replay-{row.id}"
                )
            result.done.append(row.id)
        rest = [i for i in wanted if i not in result.done]
        existing = set(session.scalars(select(DeadLetter.id).where(DeadLetter.id.in_(rest)))) if rest else set()
    result.already = [i for i in rest if i in existing]
    result.missing = [i for i in rest if i not in existing]
    for letter_id in result.done:
        log.warning("dead letter %s replayed by user %s", letter_id, replayed_by)
    return result


def replay_one(letter_id: int, replayed_by: int) -> int:
    """``replay`` for one letter: 404 if there is none, 409 ``already_replayed`` if it was replayed."""
    result = replay([letter_id], replayed_by)
    if result.missing:
        raise NotFound("No such dead letter.")
    if result.already:
        raise Conflict("This dead letter was already replayed.", code="already_replayed")
    return letter_id
