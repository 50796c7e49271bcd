"""Rebuild the Redis gate from PostgreSQL, and say what was corrected.

Redis may be wiped at any time: this puts back every live hold, booked seat and capacity, so the
fast gate agrees with the truth again. The scheduler runs it for any event whose gate is missing
and, periodically, for every event on sale.

Sales go on while it runs: the event's gate lock (locks.py), taken exclusively from the PostgreSQL snapshot
until Redis has the rebuilt gate, keeps the gate's writers out meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from atomicseats.booking import gate
from atomicseats.booking.locks import lock_gate_for_rebuild
from atomicseats.booking.tx import transaction
from atomicseats.extensions import db
from atomicseats.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    event_id: int
    held_added: int
    held_removed: int
    held_reowned: int
    booked_added: int
    booked_removed: int
    was_built: bool

    @property
    def changed(self) -> bool:
        return bool(
            self.held_added
            or self.held_removed
            or self.held_reowned
            or self.booked_added
            or self.booked_removed
            or not self.was_built
        )


def reconcile_event(event_id: int, now: datetime | None = None) -> Correction | None:
    """Rebuild one event's gate; None when Redis is unreachable (nothing to do until it is back)."""
    held: dict[str, int] = {}
    owners: dict[str, str] = {}
    booked: list[int] = []
    per_hold: dict[str, list[int]] = {}
    with transaction() as session:
        lock_gate_for_rebuild(session, event_id)
        now = now or utcnow()  # after the wait for the lock
        now_ms = gate.epoch_ms(now)
        seating, capacity = session.execute(
            text(  # the places for sale: seats a host keeps off sale are never claimed
                "SELECT seating, (SELECT count(*) FROM seats WHERE event_id = :e AND for_sale) "
                "FROM events WHERE id = :e"
            ),
            {"e": event_id},
        ).one()
        pending = {
            f"{hold_id}:{places}": gate.epoch_ms(expires_at)
            for hold_id, places, expires_at in session.execute(
                text(
                    "SELECT id, quantity, expires_at FROM holds "
                    "WHERE event_id = :e AND status = 'checkout' AND expires_at > :now"
                ),
                {"e": event_id, "now": now},
            )
        }
        rows = session.execute(
            text(
                "SELECT id, hold_id, hold_expires_at, booking_id FROM seats "
                "WHERE event_id = :e AND (booking_id IS NOT NULL OR hold_expires_at > :now)"
            ),
            {"e": event_id, "now": now},
        )
        for seat_id, hold_id, expires_at, booking_id in rows:
            if booking_id is not None:
                booked.append(seat_id)
                continue
            score = gate.epoch_ms(expires_at)
            if seating == "general":
                members = per_hold.setdefault(str(hold_id), [])
                members.append(score)
                held[f"{hold_id}:{len(members)}"] = score
            else:
                held[str(seat_id)] = score
                owners[str(seat_id)] = str(hold_id)
        try:  # still under the lock: nothing committed since the snapshot, nothing in flight
            before = gate.snapshot(event_id, now_ms)
            gate.rebuild(event_id, capacity, held, owners, booked, pending)
        except gate.GateUnavailable:
            log.warning("reconcile: Redis unreachable, event %s not rebuilt", event_id)
            return None
    correction = Correction(
        event_id=event_id,
        held_added=len(set(held) - set(before.held)),
        held_removed=len(set(before.held) - set(held)),
        held_reowned=sum(1 for seat, hold in owners.items() if before.owners.get(seat, hold) != hold),
        booked_added=len(set(booked) - before.booked),
        booked_removed=len(before.booked - set(booked)),
        was_built=before.built,
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
