"""Checkout and my bookings: pages over the engine, with live state from the JSON API and Socket.IO."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from atomicseats.api.common import decode_cursor, encode_cursor
from atomicseats.auth import role_required
from atomicseats.booking import booking_reads, holds
from atomicseats.booking import checkout as checkout_engine
from atomicseats.exceptions import Conflict, Expired, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import Booking, Event, Hold
from atomicseats.models.base import utcnow
from atomicseats.web import bp
from atomicseats.web.shop_forms import ConfirmForm, PaymentForm, WaitlistForm, require_confirmation

BOOKINGS_PAGE = 20


@bp.get("/checkout/<uuid:hold_id>")
@role_required()
def checkout(hold_id: uuid.UUID):
    """The countdown starts from the server's clock; the page's script keeps it in step with GET /holds/{id}."""
    user = current_user._get_current_object()
    now = utcnow()
    own = db.session.scalar(select(Hold).where(Hold.id == hold_id, Hold.user_id == user.id))
    if own is None:
        abort(404, description="No such hold.")  # another user's hold is not even acknowledged
    try:
        hold = holds.get_hold(hold_id, user, now)
    except Expired:
        hold = None
    event = db.session.get(Event, own.event_id)
    booking = db.session.scalar(
        select(Booking).where(Booking.hold_id == hold_id).order_by(Booking.created_at.desc()).limit(1)
    )
    # A declined card leaves the hold alive: while it is, the page offers the form again rather than the failure.
    declined = booking is not None and booking.status == "failed" and hold is not None and hold.status == "active"
    return render_template(
        "shop/checkout.html",
        hold=hold.to_dict(now) if hold else None,
        hold_id=hold_id,
        expires_ms=max(0, int((hold.expires_at - now).total_seconds() * 1000)) if hold else 0,
        event=event,
        booking=None if declined else booking,
        declined=declined,
        form=PaymentForm(),
        shortfall_form=_shortfall_form(event) if hold else None,
    )


def _shortfall_form(event: Event) -> WaitlistForm | None:
    """The "join the waitlist for the rest" form, prefilled with the places a partial hold did not get.

    The hold keeps only what it got, so the event page passes the shortfall its hold answer reported in the
    link (``?shortfall=``); it prefills the user's own form and nothing more, so it needs no more trust.
    """
    shortfall = request.args.get("shortfall", type=int)
    if not shortfall or not 1 <= shortfall <= event.max_per_order or not event.waitlist_enabled:
        return None
    return WaitlistForm(formdata=None, quantity=shortfall, accept_partial=True)


@bp.get("/bookings")
@role_required()
def my_bookings():
    """Newest first, a page at a time: "Older bookings" carries the position of the page's last booking."""
    raw = request.args.get("cursor")
    try:
        cursor = decode_cursor(raw) if raw else None
        if cursor is not None:
            uuid.UUID(str(cursor["id"]))
            datetime.fromisoformat(str(cursor["created_at"]))
    except (Invalid, KeyError, ValueError):
        abort(400, description="This page link is not one the site gave out.")
    items, next_position = booking_reads.list_bookings(
        current_user._get_current_object(), limit=BOOKINGS_PAGE, cursor=cursor
    )
    events = {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_({b["event_id"] for b in items})))}
    return render_template(
        "shop/bookings.html",
        bookings=items,
        events=events,
        form=ConfirmForm(),
        older=encode_cursor(next_position) if next_position else None,
        first_page=cursor is None,
    )


def _visible_booking(booking_id: uuid.UUID) -> dict:
    try:
        return booking_reads.booking_view(booking_id, current_user._get_current_object())
    except NotFound:
        abort(404, description="No such booking.")


@bp.get("/bookings/<uuid:booking_id>")
@role_required()
def booking_page(booking_id: uuid.UUID):
    booking = _visible_booking(booking_id)
    event = db.session.get(Event, booking["event_id"])
    return render_template("shop/booking.html", b=booking, event=event, form=ConfirmForm())


@bp.post("/bookings/<uuid:booking_id>/cancel")
@role_required()
def cancel_booking(booking_id: uuid.UUID):
    booking = _visible_booking(booking_id)
    require_confirmation()
    try:
        checkout_engine.cancel_booking(booking_id, current_user._get_current_object())
    except NotFound:
        abort(404, description="No such booking.")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"Booking {booking['reference']} is cancelled; its seats are back on sale.", "success")
    return redirect(url_for("web.booking_page", booking_id=booking_id))
