"""One event's live state in a realtime process: its seat map, and the changes not yet sent this tick.

Plain data, no I/O: ``atomicseats.realtime.server`` feeds it the changes read from Redis and the snapshots read
from PostgreSQL, and sends what it returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EventState:
    """The seats of one event as this process's maps should show them.

    ``seats`` is a snapshot from PostgreSQL kept current with every change since, so that a burst of joins
    (a sale opening, a restart's reconnect storm) reads PostgreSQL once per event, not once per map. Changes
    that arrive while a snapshot is being read are kept in ``backlog`` and applied on top of it: a change
    applied twice is harmless (last status wins), a change lost would leave the map wrong.

    The availability sent is counted from the snapshot, so it always agrees with the seats shown: the counts
    published with each change were read when that change was made, and concurrent holds publish them out of
    order. Only while no snapshot is held (after a Redis outage, until it is read again) are those sent.
    """

    event_id: int
    seats: dict[int, str] | None = None
    loaded_at: float = 0.0
    loading: bool = False
    backlog: list[list[dict[str, Any]]] = field(default_factory=list)
    pending: dict[int, str] = field(default_factory=dict)
    pending_availability: dict[str, int] | None = None
    encoded_full: Any = None  # the full map as the server encoded it, once for every map that joins
    idle_since: float | None = None  # since when no map in this process watches it

    def change(self, seats: list[dict[str, Any]], availability: dict[str, int] | None) -> None:
        """Record a published ``seat_status``: for the next tick, and in the snapshot (or its backlog)."""
        for seat in seats:
            self.pending[seat["id"]] = seat["status"]
        if availability is not None:
            self.pending_availability = availability
        if self.seats is not None:
            self._apply(seats)
        elif self.loading:
            self.backlog.append(seats)

    def loaded(self, seats: list[dict[str, Any]], at: float) -> None:
        self.seats = {seat["id"]: seat["status"] for seat in seats}
        self.loaded_at = at
        self.loading = False
        self.encoded_full = None
        backlog, self.backlog = self.backlog, []
        for changed in backlog:
            self._apply(changed)

    def forget(self) -> None:
        """Drop the snapshot (changes may have been missed); the next join reads PostgreSQL again."""
        self.seats = None
        self.encoded_full = None
        self.backlog = []

    def take_changes(self) -> dict[str, Any] | None:
        """This tick's ``seat_status``: every seat changed since the last one (its latest status), or None."""
        if not self.pending:
            return None
        payload = {
            "event_id": self.event_id,
            "seats": [{"id": seat_id, "status": status} for seat_id, status in self.pending.items()],
            "availability": self.availability() if self.seats is not None else self.pending_availability,
        }
        self.pending = {}
        self.pending_availability = None
        return payload

    def full(self) -> dict[str, Any]:
        """Every seat's status: what a (re)joining map is sent, straight to it."""
        assert self.seats is not None
        return {
            "event_id": self.event_id,
            "seats": [{"id": seat_id, "status": status} for seat_id, status in self.seats.items()],
            "availability": self.availability(),
            "full": True,
        }

    def availability(self) -> dict[str, int]:
        assert self.seats is not None
        counts = Counter(self.seats.values())
        return {
            "total": len(self.seats),
            "available": counts["available"],
            "held": counts["held"],
            "booked": counts["booked"],
        }

    def _apply(self, seats: list[dict[str, Any]]) -> None:
        assert self.seats is not None
        for seat in seats:
            if seat["id"] in self.seats:  # an id not of this event is not counted, nor kept
                self.seats[seat["id"]] = seat["status"]
        self.encoded_full = None


@dataclass
class JoinBudget:
    """A token bucket per connection: a map joins on (re)connect, not many times a second."""

    capacity: float
    per_second: float
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens = self.capacity
        else:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
