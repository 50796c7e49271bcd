"""Socket.IO handlers: a seat map joins its event's room and is sent the current state on (re)connect."""

from __future__ import annotations

from flask_login import current_user
from flask_socketio import emit, join_room, leave_room

from atomicseats.booking import availability, publish
from atomicseats.extensions import db, socketio
from atomicseats.models import Event
from atomicseats.models.base import utcnow


@socketio.on("connect")
def on_connect(auth=None):
    """A signed-in browser joins its own room, for its holds and bookings."""
    if current_user.is_authenticated:
        join_room(publish.user_room(current_user.id))


@socketio.on("join_event")
def on_join_event(data):
    """Join the event's room, then send every seat's status, so a reconnect resyncs instead of drifting."""
    try:
        event_id = int((data or {}).get("event_id"))
    except (TypeError, ValueError):
        return {"ok": False, "error": "event_id must be a number"}
    event = db.session.get(Event, event_id)
    if event is None or event.status == "draft":
        db.session.rollback()
        return {"ok": False, "error": "no such event"}
    join_room(publish.event_room(event_id))
    now = utcnow()
    seats = availability.statuses(db.session, event_id, now)
    counts = availability.counts(db.session, event_id, now)
    db.session.rollback()
    emit(
        "seat_status",
        {
            "event_id": event_id,
            "seats": seats,
            "availability": counts,
            "full": True,
        },
        # Straight to this one client, which is connected to this process: through the message queue, every
        # web process would receive and decode every map of every join, and a burst of joins (a sale
        # opening) overflowed Redis's pub/sub output buffer, which drops the subscriber and with it the
        # seat updates published until it has reconnected.
        ignore_queue=True,
    )
    return {"ok": True}


@socketio.on("leave_event")
def on_leave_event(data):
    try:
        leave_room(publish.event_room(int((data or {}).get("event_id"))))
    except (TypeError, ValueError):
        return {"ok": False}
    return {"ok": True}
