"""``GET /events/{id}/seats`` served from a short-lived copy of its encoded answer, one per event per process.

In a sale every person who arrives, gives up or sells out loads the whole seat map, and reading thousands of
seats and encoding them was most of the web tier's CPU: holds waited behind map reads in the worker's queue.
A process keeps the encoded answer (bytes) of each published event for ``SEAT_MAP_CACHE_SECONDS`` and sends
it as it is. Why staleness bounded by time is enough, and why not a change counter or ETags:
docs/decisions/0027-seat-lists-kept-per-process.md.

- **At most that old.** A copy is used only while younger than the setting, counted from before its read
  began, so every answer shows PostgreSQL's state from at most that long ago, as if the request had taken that
  long. A live map corrects itself from the pushed ``seat_status`` messages, and a hold on a seat the copy
  showed free is refused by the database with a 409 naming the taken seats (the database still decides).
- **Only what anyone may see.** A draft's map (visible to its host and admins only) is never kept; an event
  never becomes a draft again once published, and a published, ended or cancelled event is visible to
  everyone, so a kept answer is the same for every caller. Each use still checks the event as it was read
  (``may_see``), and the caller's token is checked on every request as before.
- **No waiting for another request's read.** When a copy is too old, each request that finds it so reads again
  (a few at once when a copy expires under load). Waiting for one reader deadlocked: a request that waits may
  hold a pooled connection (from its token's lookup), and the reader needs one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, jsonify

from atomicseats.booking import availability, inventory
from atomicseats.booking.access import may_see
from atomicseats.extensions import booking_ext, db
from atomicseats.models import User
from atomicseats.models.base import utcnow


@dataclass(frozen=True)
class SeatList:
    """An encoded answer and what decides who may see it (the event as it was when read)."""

    body: bytes
    status: str
    host_id: int
    read_at: float  # the cache's clock when the read began


class SeatListCache:
    """Per process: each event's latest :class:`SeatList`, used while younger than ``max_age`` seconds."""

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self.clock = clock
        self._kept: dict[int, SeatList] = {}
        self._guard = threading.Lock()

    def fresh(self, event_id: int) -> SeatList | None:
        kept = self._kept.get(event_id)
        if kept is not None and self.clock() - kept.read_at < self.max_age:
            return kept
        return None

    def keep(self, event_id: int, seat_list: SeatList) -> None:
        """Keep a copy unless a younger one is kept, and drop the copies too old to be used (so a process holds
        only the events read lately)."""
        with self._guard:
            now = self.clock()
            for stale in [e for e, k in self._kept.items() if now - k.read_at >= self.max_age]:
                del self._kept[stale]
            kept = self._kept.get(event_id)
            if kept is None or kept.read_at <= seat_list.read_at:
                self._kept[event_id] = seat_list


def cache() -> SeatListCache:
    caches = booking_ext.objects
    found = caches.get("seat_lists")
    if found is None:
        found = caches.setdefault("seat_lists", SeatListCache(current_app.config["SEAT_MAP_CACHE_SECONDS"]))
    return found


def seat_list(event_id: int, user: User | None) -> Response:
    """The event's seats as ``GET /events/{id}/seats`` answers them; 404 for an event the caller may not see."""
    kept_lists = cache()
    if kept_lists.max_age <= 0:
        return _answer(_read(event_id, user, 0.0).body)
    kept = kept_lists.fresh(event_id)
    if kept is None:
        kept = _read(event_id, user, kept_lists.clock())
        if kept.status == "draft":
            return _answer(kept.body)
        kept_lists.keep(event_id, kept)
    if not may_see(kept, user):  # never true for what is kept; checked so that it can never be served wrongly
        return _answer(_read(event_id, user, 0.0).body)
    return _answer(kept.body)


def _read(event_id: int, user: User | None, read_at: float) -> SeatList:
    """Read and encode the seats now; 404 (raised) for an event the caller may not see."""
    event = inventory.visible_event(event_id, user)
    body = jsonify({"items": availability.seats(db.session, event_id, utcnow())}).get_data()
    return SeatList(body, event.status, event.host_id, read_at)


def _answer(body: bytes) -> Response:
    return current_app.response_class(body, mimetype="application/json")
