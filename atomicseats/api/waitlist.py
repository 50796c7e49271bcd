"""The waitlist: join an event's, see your own (with position and any open offer), accept or decline an offer,
leave."""

from __future__ import annotations

import uuid

from flask import jsonify, url_for

from atomicseats.api import bp
from atomicseats.api.common import created, encode_cursor, idempotency_for, is_number, json_body, page_args
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import waitlist
from atomicseats.exceptions import Invalid


@bp.post("/events/<int:event_id>/waitlist")
@api_auth("attendee")
def join_waitlist(event_id: int):
    user = api_user()
    body = json_body(waitlist.JoinRequest)
    result = waitlist.join(
        event_id, user, body, idempotency=idempotency_for(user.id, f"POST /events/{event_id}/waitlist")
    )
    return created(result)


@bp.get("/waitlist")
@api_auth()
def my_waitlist():
    limit, cursor = page_args()
    if cursor is not None and not is_number(str(cursor.get("seq", ""))):
        raise Invalid.field("cursor", "is not a cursor this API gave out")
    items, next_position = waitlist.list_own(api_user(), limit=limit, cursor=cursor)
    return jsonify({"items": items, "next_cursor": encode_cursor(next_position) if next_position else None})


@bp.delete("/waitlist/<uuid:entry_id>")
@api_auth()
def leave_waitlist(entry_id: uuid.UUID):
    waitlist.leave(entry_id, api_user())
    return "", 204


@bp.post("/waitlist/<uuid:entry_id>/accept")
@api_auth()
def accept_offer(entry_id: uuid.UUID):
    """Accepting is checking out the offer's hold, which is already the caller's: the answer says where."""
    offer = waitlist.open_offer(entry_id, api_user())
    return jsonify({**offer, "checkout_url": url_for("web.checkout", hold_id=offer["hold_id"])})


@bp.post("/waitlist/<uuid:entry_id>/decline")
@api_auth()
def decline_offer(entry_id: uuid.UUID):
    """The offer's places go to the next in line at once, and the caller leaves this waitlist."""
    waitlist.leave(entry_id, api_user(), only_offered=True)
    return "", 204
