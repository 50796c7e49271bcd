"""The waiting page: a place in an event's queue, kept live by static/js/queue.js or, without JavaScript, by a
meta refresh. Once admitted, the browser gets its admission token as a cookie scoped to the event's hold
endpoint and goes on to the seat map, whose hold request then carries it unchanged."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from atomicseats.api.queue import admission_cookie
from atomicseats.auth import role_required
from atomicseats.booking import inventory, waiting_room
from atomicseats.exceptions import Conflict, NotFound
from atomicseats.models.base import utcnow
from atomicseats.web import bp

# Without JavaScript the page reloads this often while waiting (with it: pushes every 2 s, polling as fallback).
REFRESH_SECONDS = 10


@bp.get("/events/<int:event_id>/queue")
@role_required()
def waiting_page(event_id: int):
    user = current_user._get_current_object()
    try:
        event = inventory.visible_event(event_id, user)
    except NotFound:
        abort(404, description="No such event.")
    try:
        state = waiting_room.join(event_id, user.id, request.remote_addr or "")
    except NotFound:
        return redirect(url_for("web.event_page", event_id=event_id))
    except (Conflict, waiting_room.QueueFull) as exc:
        return render_template("queue/waiting.html", event=event, state=None, refused=exc.message), 200
    if state.status == "admitted" and not state.admission_used:
        response = redirect(url_for("web.event_page", event_id=event_id), 303)
        response.set_cookie(
            admission_cookie(event_id),
            state.admission_token,
            max_age=max(1, int((state.admission_expires_at - utcnow()).total_seconds())),
            path=url_for("api.create_hold", event_id=event_id),
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
            httponly=True,
            samesite="Lax",
        )
        return response
    return render_template("queue/waiting.html", event=event, state=state, refresh=REFRESH_SECONDS)
