"""Ending holds: release by the holder, expiry when time is up, and what every ending frees.

Whatever ends a hold (release, expiry, a failed checkout, a cancelled event, a declined waitlist offer) goes
through :func:`end_holds` in the caller's transaction, so seats, waitlist offers and freed-place signals
always change together; the gate and seat maps hear of it after commit (:func:`after_holds_ended`). The one
failed checkout that does not end its hold is a declined card: :func:`reopen_declined` gives the hold back.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats.booking import gate, outbox, publish
from atomicseats.booking.locks import lock_gates
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Expired, NotFound
from atomicseats.models import User
from atomicseats.models.base import utcnow


@dataclass
class EndedHolds:
    """What ending some holds freed, so that after commit the gate and the seat maps can be told."""

    holds: list[Any] = field(default_factory=list)
    seats_by_hold: dict[uuid.UUID, list[int]] = field(default_factory=lambda: defaultdict(list))


def reopen_declined(session: Session, hold_id: uuid.UUID, now: datetime) -> datetime | None:
    """A checkout's card was declined: its hold goes back to its own expiry, seats and all, if that is still ahead.

    The expiry it returns (None: the hold's time is up, and the caller ends it) lets the buyer try another card
    until then, while nothing is released. In the caller's transaction, which holds the hold's row lock.
    """
    return session.scalar(
        text(
            """
            WITH reopened AS (
              UPDATE holds SET status = 'active', expires_at = expires_before_checkout
              WHERE id = :h AND status = 'checkout' AND expires_before_checkout > :now RETURNING id, expires_at),
            seats_back AS (
              UPDATE seats s SET hold_expires_at = r.expires_at FROM reopened r WHERE s.hold_id = r.id)
            SELECT expires_at FROM reopened
            """
        ),
        {"h": hold_id, "now": now},
    )


def end_holds(session: Session, hold_ids: list[uuid.UUID], status: str, now: datetime) -> EndedHolds:
    """End live holds in the caller's transaction: free their seats, close waitlist offers, signal the waitlist."""
    ended = EndedHolds()
    if not hold_ids:
        return ended
    ended.holds = session.execute(
        text(
            """
            UPDATE holds h SET status = :st, ended_at = :now FROM events e
            WHERE h.id = ANY(:ids) AND h.status IN ('active', 'checkout') AND e.id = h.event_id
            RETURNING h.id, h.event_id, h.user_id, h.quantity, h.waitlist_entry_id, e.seating
            """
        ),
        {"st": status, "now": now, "ids": list(hold_ids)},
    ).all()
    if not ended.holds:
        return ended
    lock_gates(session, {h.event_id for h in ended.holds})  # before commit: the gate hears of it after
    ids = [h.id for h in ended.holds]
    for seat_id, hold_id in session.execute(
        # RETURNING shows new values, so the old hold id comes from the locked pre-image.
        text(
            """
            UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL
            FROM (SELECT id, hold_id FROM seats WHERE hold_id = ANY(:ids) FOR UPDATE) old
            WHERE s.id = old.id RETURNING s.id, old.hold_id
            """
        ),
        {"ids": ids},
    ):
        ended.seats_by_hold[hold_id].append(seat_id)
    if status in ("expired", "released"):
        lapsed = session.execute(
            text(
                "UPDATE waitlist_entries SET status = 'expired', updated_at = :now "
                "WHERE status = 'offered' AND id = ANY(:entries) RETURNING id, user_id, event_id"
            ),
            {"now": now, "entries": [h.waitlist_entry_id for h in ended.holds if h.waitlist_entry_id]},
        ).all()
        for entry_id, user_id, event_id in lapsed:  # the person whose offer lapsed is told by email
            outbox.enqueue(
                session,
                outbox.NOTIFICATIONS,
                user_id,
                {"kind": "waitlist_offer_expired", "user_id": user_id, "event_id": event_id, "entry_id": entry_id},
            )
    if status != "cancelled":
        per_event: dict[int, int] = defaultdict(int)
        for h in ended.holds:
            per_event[h.event_id] += len(ended.seats_by_hold[h.id])
        for event_id, count in per_event.items():
            outbox.places_freed(session, event_id, count, f"hold_{status}")
    return ended


def after_holds_ended(ended: EndedHolds, now: datetime, user_event: str) -> None:
    """After commit: drop the claims from the gate and tell seat maps and holders."""
    for hold in ended.holds:
        seat_ids = ended.seats_by_hold[hold.id]
        try:
            if hold.seating == "general":
                gate.places_of_owner(hold.event_id, "release", str(hold.id), hold.quantity)
            else:
                gate.release_seats(hold.event_id, seat_ids, str(hold.id))
        except gate.GateUnavailable:
            pass
        publish.seat_status(hold.event_id, [(s, "available") for s in seat_ids], gate.epoch_ms(now))
        publish.to_user(hold.user_id, user_event, {"id": str(hold.id), "event_id": hold.event_id})


def release_hold(hold_id: uuid.UUID, user: User, now: datetime | None = None) -> None:
    """Let go of a hold now; its seats are available at once."""
    now = now or utcnow()
    with transaction() as session:
        hold = session.execute(
            text("SELECT status, expires_at FROM holds WHERE id = :h AND user_id = :u FOR UPDATE"),
            {"h": hold_id, "u": user.id},
        ).first()
        if hold is None:
            raise NotFound("No such hold.")
        if hold.status == "checkout":
            raise Conflict("This hold is being checked out.", code="hold_in_checkout")
        if hold.status != "active":
            raise Expired("This hold has already ended.", code="hold_expired", details={"status": hold.status})
        ended = end_holds(session, [hold_id], "released", now)
    after_holds_ended(ended, now, "hold_updated")


def expire_due(now: datetime | None = None, limit: int = 500) -> int:
    """End holds whose time is up (the scheduler calls this every fraction of a second)."""
    now = now or utcnow()
    with transaction() as session:
        due = list(
            session.scalars(
                text(
                    "SELECT id FROM holds WHERE status = 'active' AND expires_at <= :now "
                    "ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED"
                ),
                {"now": now, "n": limit},
            )
        )
        ended = end_holds(session, due, "expired", now)
    after_holds_ended(ended, now, "hold_expired")
    return len(ended.holds)
