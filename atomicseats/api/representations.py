"""How engine objects look in JSON."""

from __future__ import annotations

from typing import Any

from atomicseats.models import Event
from atomicseats.models.base import utcnow


def event_dict(event: Event, availability: dict[str, int] | None = None, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.id,
        "host_id": event.host_id,
        "name": event.name,
        "description": event.description,
        "venue": event.venue,
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "status": display_status(event, availability),
        "seating": event.seating,
        "capacity": event.capacity,
        "hold_seconds": event.hold_seconds,
        "max_per_order": event.max_per_order,
        "waitlist_enabled": event.waitlist_enabled,
        "waiting_room": {
            "enabled": event.waiting_room_enabled,
            "opens_at": event.waiting_room_opens_at.isoformat() if event.waiting_room_opens_at else None,
            "admit_per_minute": event.admit_per_minute,
        },
    }
    if event.seating == "general":
        body["price_cents"] = event.price_cents
    if availability is not None:
        body["availability"] = availability
    if detail and event.seating == "reserved":
        body["sections"] = [{"id": s.id, "name": s.name, "price_cents": s.price_cents} for s in event.sections]
    return body


def display_status(event: Event, availability: dict[str, int] | None) -> str:
    """``sold_out`` is derived, not stored: it flips back on its own when a hold expires or a booking is cancelled.

    An on-sale event whose end has passed is ``ended`` at once, before the scheduler stores it.
    """
    if event.status == "on_sale" and event.ends_at <= utcnow():
        return "ended"
    if event.status == "on_sale" and availability is not None and availability["available"] == 0:
        return "sold_out"
    return event.status
