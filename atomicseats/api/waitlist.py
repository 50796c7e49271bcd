"""The waitlist: join an event's, see your own (with position and any open offer), leave."""

from __future__ import annotations

import uuid

from flask import jsonify

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
