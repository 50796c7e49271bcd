"""Bookings: check out a hold (202, confirmed in the background), look, list, cancel; dead letters for admins."""

from __future__ import annotations

import uuid

from flask import jsonify, request

from atomicseats.api import bp
from atomicseats.api.common import (
    created,
    datetime_arg,
    encode_cursor,
    idempotency_for,
    is_number,
    json_body,
    page_args,
)
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import booking_reads, checkout
from atomicseats.exceptions import Invalid
from atomicseats.models.bookings import BOOKING_STATUSES
from atomicseats.pipeline import dead_letters as dead_letter_service


@bp.post("/bookings")
@api_auth("attendee")
def create_booking():
    user = api_user()
    body = json_body(checkout.CheckoutRequest)
    result = checkout.start_checkout(body, user, idempotency=idempotency_for(user.id, "POST /bookings"))
    return created(result, 202)


MAX_WAIT_SECONDS = 30


@bp.get("/bookings/<uuid:booking_id>")
@api_auth()
def get_booking(booking_id: uuid.UUID):
    """``?wait=N`` (0-30): answer as soon as the booking is no longer pending, or after N seconds."""
    wait = request.args.get("wait")
    if wait is None:
        return jsonify(booking_reads.booking_view(booking_id, api_user()))
    if not is_number(wait) or not 0 <= int(wait) <= MAX_WAIT_SECONDS:
        raise Invalid.field("wait", f"must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}")
    return jsonify(booking_reads.wait_for_outcome(booking_id, api_user(), int(wait)))


@bp.get("/bookings")
@api_auth()
def list_bookings():
    limit, cursor = page_args()
    event_id = request.args.get("event_id")
    if event_id is not None and not is_number(event_id):
        raise Invalid.field("event_id", "must be an event id")
    status = request.args.get("status")
    if status is not None and status not in BOOKING_STATUSES:
        raise Invalid.field("status", f"must be one of {', '.join(BOOKING_STATUSES)}")
    if cursor is not None and not {"created_at", "id"} <= set(cursor):
        raise Invalid.field("cursor", "is not a cursor this API gave out")
    items, next_position = booking_reads.list_bookings(
        api_user(),
        limit=limit,
        cursor=cursor,
        event_id=int(event_id) if event_id else None,
        status=status,
        starts_from=datetime_arg("from"),
        starts_to=datetime_arg("to"),
    )
    return jsonify({"items": items, "next_cursor": encode_cursor(next_position) if next_position else None})


@bp.post("/bookings/<uuid:booking_id>/cancel")
@api_auth()
def cancel_booking(booking_id: uuid.UUID):
    return jsonify(checkout.cancel_booking(booking_id, api_user()))


@bp.get("/admin/dead-letters")
@api_auth("admin")
def dead_letters():
    """Jobs that failed every retry, newest first (open ones unless ``?all=1``)."""
    limit, cursor = page_args()
    flag = request.args.get("all", "0")
    if flag not in ("0", "1", "true", "false"):
        raise Invalid.field("all", "must be 0, 1, true or false")
    filters = dead_letter_service.Filters(replayed=None if flag in ("1", "true") else False)
    items, next_position = dead_letter_service.page(filters, limit, cursor)
    return jsonify({"items": items, "next_cursor": encode_cursor(next_position) if next_position else None})


@bp.post("/admin/dead-letters/<int:letter_id>/replay")
@api_auth("admin")
def replay_dead_letter(letter_id: int):
    """Run a parked job again (a fresh job with the usual retries); 409 if it was replayed already."""
    return jsonify({"id": dead_letter_service.replay_one(letter_id, api_user().id), "status": "replayed"}), 202
