"""Events, seat maps and their availability."""

from __future__ import annotations

from datetime import datetime

from flask import jsonify, request

from atomicseats.api import bp, seat_lists
from atomicseats.api.common import created, datetime_arg, encode_cursor, idempotency_for, json_body, page_args, raw_json
from atomicseats.api.representations import event_dict
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import availability, catalog, inventory
from atomicseats.booking.specs import EventPatch, EventSpec
from atomicseats.exceptions import Invalid
from atomicseats.extensions import db
from atomicseats.models import Event
from atomicseats.models.base import utcnow

LISTED_STATUSES = ("on_sale", "ended", "cancelled")


@bp.get("/events")
def list_events():
    limit, cursor = page_args()
    statuses: tuple[str, ...] = ("on_sale",)
    status = request.args.get("status")
    if status:
        wanted = {s.strip() for s in status.split(",")}
        if not wanted <= {*LISTED_STATUSES, "sold_out"}:
            raise Invalid.field("status", f"must be among {', '.join((*LISTED_STATUSES, 'sold_out'))}")
        statuses = tuple((wanted - {"sold_out"}) | ({"on_sale"} if "sold_out" in wanted else set()))
    after = None
    if cursor is not None:
        try:
            after = (datetime.fromisoformat(cursor["starts_at"]), int(cursor["id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid.field("cursor", "is not a cursor this API gave out") from exc
    criteria = catalog.EventSearch(
        q=request.args.get("q", "").strip() or None,
        starts_from=datetime_arg("from"),
        starts_to=datetime_arg("to"),
        statuses=statuses,
    )
    events = catalog.search(db.session, criteria, limit=limit + 1, after=after)
    more = len(events) > limit
    events = events[:limit]
    counts = availability.counts_for(db.session, [e.id for e in events], utcnow())
    items = [event_dict(e, counts[e.id]) for e in events]
    if status and "sold_out" in status.split(","):
        wanted = {s.strip() for s in status.split(",")}
        items = [i for i in items if i["status"] in wanted]
    next_cursor = encode_cursor({"starts_at": events[-1].starts_at.isoformat(), "id": events[-1].id}) if more else None
    return jsonify({"items": items, "next_cursor": next_cursor})


@bp.post("/events")
@api_auth("host")
def create_event():
    user = api_user()
    spec = json_body(EventSpec)
    result = inventory.create_event(user, spec, idempotency=idempotency_for(user.id, "POST /events"), render=_detail)
    return created(result)


def _detail(event: Event) -> dict:
    """An event with its sections, prices and availability now: what every single-event answer carries."""
    now = utcnow()
    live = availability.live_counts(event.id, now) if event.status in ("on_sale", "sold_out") else None
    return event_dict(event, live or availability.counts(db.session, event.id, now), detail=True)


@bp.get("/events/<int:event_id>")
def get_event(event_id: int):
    event = inventory.visible_event(event_id, api_user())
    return jsonify(_detail(event))


@bp.patch("/events/<int:event_id>")
@api_auth("host")
def update_event(event_id: int):
    patch = json_body(EventPatch)
    if not raw_json():
        raise Invalid("Send at least one field to change.", details={"fields": {"body": "is empty"}})
    event = inventory.update_event(event_id, api_user(), patch)
    return jsonify(_detail(event))


@bp.post("/events/<int:event_id>/publish")
@api_auth("host")
def publish_event(event_id: int):
    event = inventory.publish_event(event_id, api_user())
    return jsonify(_detail(event))


@bp.delete("/events/<int:event_id>")
@api_auth("host")
def cancel_event(event_id: int):
    event = inventory.cancel_event(event_id, api_user())
    return jsonify(_detail(event))


@bp.get("/events/<int:event_id>/seats")
def event_seats(event_id: int):
    return seat_lists.seat_list(event_id, api_user())
