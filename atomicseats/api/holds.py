"""Holds: claim seats, look at a hold, release it."""

from __future__ import annotations

import uuid

from flask import current_app, jsonify

from atomicseats import ratelimit
from atomicseats.api import bp
from atomicseats.api.common import created, idempotency_for, json_body
from atomicseats.api.queue import require_admission
from atomicseats.auth import api_auth, api_user
from atomicseats.booking import claims, hold_endings, holds
from atomicseats.booking.idempotency import stored_answer
from atomicseats.models.base import utcnow


@bp.post("/events/<int:event_id>/holds")
@api_auth("attendee")
def create_hold(event_id: int):
    user = api_user()
    ratelimit.enforce(current_app.config["HOLD_RATE_LIMIT"], "holds", f"user:{user.id}")
    idempotency = idempotency_for(user.id, f"POST /events/{event_id}/holds")
    if (replay := stored_answer(idempotency)) is not None:  # the first hold may have spent the admission token
        return created(replay)
    require_admission(event_id, user)
    request_body = json_body(claims.HoldRequest)
    result = holds.create_hold(event_id, user, request_body, idempotency=idempotency)
    return created(result)


@bp.get("/holds/<uuid:hold_id>")
@api_auth()
def get_hold(hold_id: uuid.UUID):
    now = utcnow()
    return jsonify(holds.get_hold(hold_id, api_user(), now).to_dict(now))


@bp.delete("/holds/<uuid:hold_id>")
@api_auth()
def release_hold(hold_id: uuid.UUID):
    hold_endings.release_hold(hold_id, api_user())
    return "", 204
