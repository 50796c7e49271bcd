"""The transactional outbox: a Kafka message is written in the transaction of the change it announces."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats.logs import current_request_id

BOOKING_REQUESTS = "booking-requests"
NOTIFICATIONS = "notifications"
WAITLIST_ALLOCATION = "waitlist-allocation"
TOPICS = (BOOKING_REQUESTS, NOTIFICATIONS, WAITLIST_ALLOCATION)

_INSERT = text(
    "INSERT INTO outbox (topic, key, payload, created_at, attempts) "
    "VALUES (:topic, :key, CAST(:payload AS jsonb), now(), 0)"
)


def enqueue(session: Session, topic: str, key: object, payload: dict[str, Any]) -> None:
    """Add a message for the relay to publish after commit. ``topic`` is the unprefixed name.

    The current request id rides in the payload, so the consumer's job (and its email) can log under it.
    """
    session.execute(_INSERT, {"topic": topic, "key": str(key), "payload": payload_json(payload)})


def payload_json(payload: dict[str, Any]) -> str:
    """A message's payload as the outbox stores it, with the current request id."""
    if (request_id := current_request_id()) is not None:
        payload = {"request_id": request_id, **payload}
    return json.dumps(payload, default=str)


def places_freed(session: Session, event_id: int, count: int, reason: str) -> None:
    """Tell the waitlist allocator that places came back, but only if someone is waiting for them."""
    if count <= 0:
        return
    waiting = session.execute(
        text(
            "SELECT 1 FROM waitlist_entries w JOIN events e ON e.id = w.event_id "
            "WHERE w.event_id = :e AND w.status = 'waiting' AND e.waitlist_enabled LIMIT 1"
        ),
        {"e": event_id},
    ).first()
    if waiting:
        enqueue(session, WAITLIST_ALLOCATION, event_id, {"event_id": event_id, "count": count, "reason": reason})
