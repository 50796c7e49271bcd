"""The waiting room over HTTP: join an event's queue, read a ticket, and the admission check in front of holds."""

from __future__ import annotations

import logging

from flask import Response, after_this_request, jsonify, request

from atomicseats.api import bp
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import waiting_room
from atomicseats.errors import OUTAGE_ERRORS, error_response
from atomicseats.models import User

log = logging.getLogger(__name__)
ADMISSION_HEADER = "X-Admission-Token"
QUEUE_FULL_RETRY_AFTER_SECONDS = 60


def admission_cookie(event_id: int) -> str:
    """Where the waiting page leaves a browser's token, so the seat map's hold request carries it unchanged."""
    return f"admission_{event_id}"


def require_admission(event_id: int, user: User) -> None:
    """403 unless the request carries this user's live admission token for a queued event; spent on a 201.

    The token comes in the ``X-Admission-Token`` header (API clients) or the waiting page's cookie (browsers).
    Only a hold that was made spends it: a 409 (seats taken meanwhile) leaves it usable until it expires.
    """
    token = request.headers.get(ADMISSION_HEADER) or request.cookies.get(admission_cookie(event_id))
    admission = waiting_room.check_admission(event_id, user.id, token)
    if admission is None:
        return

    @after_this_request
    def spend(response: Response) -> Response:
        if response.status_code == 201:
            try:
                waiting_room.mark_used(admission)
            except OUTAGE_ERRORS:  # the hold is made: a lost mark must not turn its answer into an error
                log.exception("could not mark the admission of user %s for event %s used", user.id, event_id)
        return response


def _answer(state: waiting_room.QueueState) -> Response:
    return jsonify(state.to_dict())


@bp.post("/events/<int:event_id>/queue")
@api_auth()
def join_queue(event_id: int):
    try:
        state = waiting_room.join(event_id, api_user().id, request.remote_addr or "")
    except waiting_room.QueueFull as exc:
        return error_response(
            429, exc.code, exc.message, exc.details, {"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)}
        )
    return _answer(state)


@bp.get("/queue/<ticket>")
@api_auth()
def queue_ticket(ticket: str):
    user = api_user()
    return _answer(waiting_room.join(waiting_room.event_of_ticket(ticket, user.id), user.id))
