"""Live updates: every seat status change, published on Redis for Socket.IO to deliver.

Any process (web, RQ worker, scheduler) publishes through a write-only Socket.IO Redis manager on the
app's channel; every web process subscribed to that channel forwards the message to its browsers.
Publishing happens after commit and never fails the operation that changed the seats.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import socketio
from flask import current_app

from atomicseats.booking import gate

log = logging.getLogger(__name__)


def event_room(event_id: int) -> str:
    return f"event:{event_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def _manager() -> socketio.RedisManager | None:
    app = current_app._get_current_object()
    manager = app.extensions.get("atomicseats.emitter")
    url = app.config["SOCKETIO_MESSAGE_QUEUE"]
    if manager is None and url:
        manager = socketio.RedisManager(url, channel=app.config["REDIS_PREFIX"] + "socketio", write_only=True)
        app.extensions["atomicseats.emitter"] = manager
    return manager


def emit(event: str, data: dict[str, Any], room: str) -> None:
    manager = _manager()
    if manager is None:
        return
    try:
        manager.emit(event, data, namespace="/", room=room)
    except Exception:  # a lost live update must never undo a committed booking step
        log.exception("could not publish %s to %s", event, room)


def availability_from_gate(event_id: int, now_ms: int, known: gate.GateCounts | None = None) -> dict[str, int] | None:
    try:
        c = known or gate.counts(event_id, now_ms)
    except gate.GateUnavailable:
        return None
    if c.capacity is None:
        return None
    return {
        "total": c.capacity,
        "available": max(c.capacity - c.held - c.booked, 0),
        "held": c.held,
        "booked": c.booked,
    }


def seat_status(
    event_id: int, changes: Iterable[tuple[int, str]], now_ms: int, counts: gate.GateCounts | None = None
) -> None:
    """Announce ``(seat_id, status)`` changes with the event's availability, in SPEC's ``seat_status`` shape."""
    seats = [{"id": seat_id, "status": status} for seat_id, status in changes]
    if not seats:
        return
    emit(
        "seat_status",
        {"event_id": event_id, "seats": seats, "availability": availability_from_gate(event_id, now_ms, counts)},
        event_room(event_id),
    )


def to_user(user_id: int, event: str, data: dict[str, Any]) -> None:
    emit(event, data, user_room(user_id))
