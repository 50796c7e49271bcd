"""Live updates: every seat status change and per-user message, published on Redis for the realtime process.

Any process (web, RQ worker, scheduler) publishes through a write-only Socket.IO Redis manager on the app's
channel (per-user messages, event status), and seat changes on a channel of their own, which every realtime
process coalesces per tick for its maps (atomicseats/realtime/server.py). Publishing happens after commit and
never fails the operation that changed the seats.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import socketio

from atomicseats import realtime
from atomicseats.booking import availability, gate
from atomicseats.extensions import booking_ext, db
from atomicseats.realtime import event_room, user_room

__all__ = [
    "batch",
    "current_availability",
    "emit",
    "event_room",
    "seat_status",
    "to_each",
    "to_user",
    "to_users",
    "user_room",
]

# People per message of :func:`to_users` and :func:`to_each`: a realtime process handles one message without
# yielding its loop, so a message to thousands is cut into pieces that each take it a few milliseconds.
USERS_PER_MESSAGE = 500

log = logging.getLogger(__name__)


class _Emitter(socketio.RedisManager):
    """A write-only Socket.IO Redis manager whose messages inside :func:`batch` leave in one round trip.

    A hold announces two messages (the map's ``seat_status``, the holder's ``hold_updated``); a pipeline sends
    both in one round trip on the hold's hot path. It hooks ``_publish``, the one method through which
    python-socketio's PubSubManager hands a finished message to Redis, and sends seat changes the same way on
    their own channel.
    """

    def __init__(self, url: str, channel: str, seats_channel: str, users_channel: str):
        super().__init__(url, channel=channel, write_only=True)
        self.seats_channel = seats_channel
        self.users_channel = users_channel
        self._local = threading.local()

    def _publish(self, data: dict[str, Any]) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            super()._publish(data)
        else:
            pending.append((self.channel, self.json.dumps(data)))

    def publish_seats(self, data: dict[str, Any]) -> None:
        message = (self.seats_channel, json.dumps(data))
        pending = getattr(self._local, "pending", None)
        if pending is None:
            self._publish_all([message])
        else:
            pending.append(message)

    def publish_users(self, messages: list[dict[str, Any]]) -> None:
        self._publish_all([(self.users_channel, json.dumps(m)) for m in messages])

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._local, "pending", None) is not None:  # already inside a batch
            yield
            return
        self._local.pending = []
        try:
            yield
        finally:
            pending, self._local.pending = self._local.pending, None
            if pending:
                self._publish_all(pending)

    def _publish_all(self, messages: list[tuple[str, str]]) -> None:
        try:
            if not self.connected:
                self._redis_connect()
            pipe = self.redis.pipeline(transaction=False)
            for channel, message in messages:
                pipe.publish(channel, message)
            pipe.execute()
        except Exception:  # like a single publish: a lost live update must never fail the operation
            self.connected = False
            log.exception("could not publish %d live updates", len(messages))


def _manager() -> _Emitter | None:
    objects, settings = booking_ext.objects, booking_ext.settings
    manager = objects.get("emitter")
    url = settings.socketio_message_queue
    if manager is None and url:
        prefix = settings.redis_prefix
        manager = _Emitter(
            url, realtime.queue_channel(prefix), realtime.seats_channel(prefix), realtime.users_channel(prefix)
        )
        objects["emitter"] = manager
    return manager


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Send every message emitted inside the block together, when the block ends (one Redis round trip)."""
    manager = _manager()
    if manager is None:
        yield
        return
    with manager.batch():
        yield


def emit(event: str, data: dict[str, Any], room: str) -> None:
    manager = _manager()
    if manager is None:
        return
    try:
        manager.emit(event, data, namespace="/", room=room)
    except Exception:  # a lost live update must never undo a committed booking step
        log.exception("could not publish %s to %s", event, room)


def current_availability(event_id: int, now_ms: int, known: gate.GateCounts | None = None) -> dict[str, int] | None:
    """The event's counts for a live update: the gate's (no query), or PostgreSQL's while the gate is missing.

    Right after Redis was wiped the gate has no capacity until the scheduler rebuilds it (within 2 s); seat maps
    still get true counts meanwhile, read on a connection of their own (updates are sent after commit, outside
    the caller's transaction). None only when Redis is unreachable, and then the update cannot be sent anyway.
    """
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    try:
        known = known or gate.counts(event_id, now_ms)
    except gate.GateUnavailable:
        return None
    counts = availability.live_counts(event_id, now, known)
    if counts is not None:
        return counts
    with db.engine.connect() as connection:
        return availability.counts(connection, event_id, now)


def seat_status(
    event_id: int, changes: Iterable[tuple[int, str]], now_ms: int, counts: gate.GateCounts | None = None
) -> None:
    """Announce ``(seat_id, status)`` changes with the event's availability, in SPEC's ``seat_status`` shape.

    Published on the seat channel, not through the Socket.IO queue: the realtime processes merge a tick's changes
    into one message per room (and a change published for nobody costs them one dictionary lookup).
    """
    seats = [{"id": seat_id, "status": status} for seat_id, status in changes]
    manager = _manager()
    if not seats or manager is None:
        return
    manager.publish_seats(
        {"event_id": event_id, "seats": seats, "availability": current_availability(event_id, now_ms, counts)}
    )


def to_user(user_id: int, event: str, data: dict[str, Any]) -> None:
    emit(event, data, user_room(user_id))


def to_users(event: str, common: dict[str, Any], own: dict[int, dict[str, Any]]) -> None:
    """Send each user in ``own`` the message ``event`` with ``common`` and their own part, to their room only.

    For one message to thousands of people that differs per person (a queue's draw tells each their place).
    Through the Socket.IO queue that would be one Redis message per person, each decoded and turned into its own
    send task by every realtime process; here the messages go out a few hundred people each, in one round trip
    on their own channel, and each realtime process sends a person's part only to that person's connections on it
    (atomicseats/realtime/server.py). A realtime process that misses them (restarting) leaves those pages to ask.
    """
    _publish_to_users(event, common, "users", [[user_id, part] for user_id, part in own.items()])


def to_each(event: str, data: dict[str, Any], user_ids: Iterable[int]) -> None:
    """Send every user in ``user_ids`` the same message ``event``, to their own room only.

    For one message to everyone in a queue (where the head of the line is, every few seconds). Addressed to
    thousands of rooms through the Socket.IO queue, each realtime process would build and queue the packet once per
    recipient; here the ids go in a few messages on the users channel and each realtime process makes the
    WebSocket frame once and writes it to each of those users' connections on it.
    """
    _publish_to_users(event, data, "to", list(user_ids))


def _publish_to_users(event: str, data: dict[str, Any], field: str, people: list[Any]) -> None:
    """``people`` under ``field`` on the users channel, ``USERS_PER_MESSAGE`` to a message, in one round trip."""
    manager = _manager()
    if manager is None or not people:
        return
    manager.publish_users(
        [
            {"event": event, "data": data, field: people[i : i + USERS_PER_MESSAGE]}
            for i in range(0, len(people), USERS_PER_MESSAGE)
        ]
    )
