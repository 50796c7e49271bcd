"""Rebuild the Redis gate from PostgreSQL, and say what was corrected.

Redis may be wiped at any time: this puts back every live hold, booked seat and capacity, so the
fast gate agrees with the truth again. The scheduler runs it for any event whose gate is missing
and, periodically, for every event on sale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from atomicseats.booking import gate
from atomicseats.extensions import db
from atomicseats.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    event_id: int
    held_added: int
    held_removed: int
    booked_added: int
    booked_removed: int
    was_built: bool

    @property
    def changed(self) -> bool:
        return bool(
            self.held_added or self.held_removed or self.booked_added or self.booked_removed or not self.was_built
        )


def reconcile_event(event_id: int, now: datetime | None = None) -> Correction | None:
    """Rebuild one event's gate; None when Redis is unreachable (nothing to do until it is back)."""
    now = now or utcnow()
    now_ms = int(now.timestamp() * 1000)
    session = db.session
    seating, capacity = session.execute(
        text("SELECT seating, (SELECT count(*) FROM seats WHERE event_id = :e) FROM events WHERE id = :e"),
        {"e": event_id},
    ).one()
    held: dict[str, int] = {}
    owners: dict[str, str] = {}
    booked: list[int] = []
    rows = session.execute(
        text(
            "SELECT id, hold_id, hold_expires_at, booking_id FROM seats "
            "WHERE event_id = :e AND (booking_id IS NOT NULL OR hold_expires_at > :now)"
        ),
        {"e": event_id, "now": now},
    )
    per_hold: dict[str, list[int]] = {}
    for seat_id, hold_id, expires_at, booking_id in rows:
        if booking_id is not None:
            booked.append(seat_id)
            continue
        score = int(expires_at.timestamp() * 1000)
        if seating == "general":
            members = per_hold.setdefault(str(hold_id), [])
            members.append(score)
            held[f"{hold_id}:{len(members)}"] = score
        else:
            held[str(seat_id)] = score
            owners[str(seat_id)] = str(hold_id)
    session.rollback()  # end the read-only transaction; nothing to keep
    try:
        was_built = gate.is_built(event_id)
        before_held, before_booked = gate.snapshot(event_id, now_ms)
        gate.rebuild(event_id, capacity, held, owners, booked)
    except gate.GateUnavailable:
        log.warning("reconcile: Redis unreachable, event %s not rebuilt", event_id)
        return None
    correction = Correction(
        event_id=event_id,
        held_added=len(set(held) - set(before_held)),
        held_removed=len(set(before_held) - set(held)),
        booked_added=len(set(booked) - before_booked),
        booked_removed=len(before_booked - set(booked)),
        was_built=was_built,
    )
    if correction.changed:
        log.info("reconcile: corrected %s", correction)
    return correction


def reconcile_all(now: datetime | None = None, only_missing: bool = False) -> list[Correction]:
    """Rebuild the gate of every event that can still sell (or only of those whose gate is gone)."""
    event_ids = list(
        db.session.scalars(text("SELECT id FROM events WHERE status IN ('on_sale', 'sold_out') ORDER BY id"))
    )
    db.session.rollback()
    out = []
    for event_id in event_ids:
        try:
            if only_missing and gate.is_built(event_id):
                continue
        except gate.GateUnavailable:
            return out
        correction = reconcile_event(event_id, now)
        if correction is not None:
            out.append(correction)
    return out
