"""My waitlist, joining one (with preferences), leaving it, and acting on an offer.

An offer's email links to ``GET /waitlist/{id}/offer``: a page that changes nothing and carries the two
buttons, accept and decline, as CSRF-protected POST forms (a link followed by a mail scanner or a prefetch
must not decline anyone's places). Every view works only on the signed-in user's own entry; another user's
is a 404, never a hint that it exists.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from atomicseats.auth import role_required
from atomicseats.booking import waitlist as waitlist_engine
from atomicseats.booking.specs import parse
from atomicseats.exceptions import Conflict, Invalid, NotFound
from atomicseats.web import bp, pages
from atomicseats.web.shop_forms import ConfirmForm, WaitlistForm, require_confirmation

WAITLIST_PAGE = 100
# The engine's field names (JoinRequest) as the form calls them.
ENGINE_FIELDS = {
    "quantity": "quantity",
    "accept_partial": "accept_partial",
    "section_ids": "section_ids",
    "together": "together",
    "max_price_cents": "max_price",
}


@bp.get("/waitlist")
@role_required()
def my_waitlist():
    entries, _ = waitlist_engine.list_own(current_user._get_current_object(), limit=WAITLIST_PAGE, cursor=None)
    return render_template("shop/waitlist.html", entries=entries, form=ConfirmForm())


@bp.post("/events/<int:event_id>/waitlist")
@role_required("attendee")
def join_waitlist(event_id: int):
    """The event page's form, and the checkout page's "join the waitlist for the rest" (a hold's shortfall)."""
    form = WaitlistForm()
    if not form.validate_on_submit():
        return _refused(event_id, form)
    wanted: dict = {
        "quantity": form.quantity.data,
        "accept_partial": form.accept_partial.data,
        "together": form.together.data,
    }
    if form.section_ids.data:
        wanted["section_ids"] = form.section_ids.data
    if form.max_price.data is not None:
        wanted["max_price_cents"] = int(form.max_price.data * Decimal(100))
    try:
        result = waitlist_engine.join(
            event_id, current_user._get_current_object(), parse(waitlist_engine.JoinRequest, wanted)
        )
    except NotFound:
        abort(404, description="No such event.")
    except Invalid as exc:  # what only the event knows: its sections, its prices, its largest order
        for name, message in (exc.details.get("fields") or {"": exc.message}).items():
            field = getattr(form, ENGINE_FIELDS.get(name.split(".")[0], ""), None)
            if field is None:
                form.form_errors.append(message)
            else:
                field.errors = [*field.errors, message]
        return _refused(event_id, form)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("web.event_page", event_id=event_id))
    flash(f"You are number {result.body['position']} on the waitlist.", "success")
    return redirect(url_for("web.my_waitlist"))


def _refused(event_id: int, form: WaitlistForm):
    """The event page again, its waitlist form showing each error next to its field."""
    if form.csrf_token.errors or form.form_errors:
        flash(" ".join(form.form_errors) or "The form expired; please try again.", "error")
    return pages.event_page(event_id, waitlist_form=form)


@bp.post("/waitlist/<uuid:entry_id>/leave")
@role_required()
def leave_waitlist(entry_id: uuid.UUID):
    require_confirmation()
    try:
        waitlist_engine.leave(entry_id, current_user._get_current_object())
    except NotFound:
        abort(404, description="No such waitlist entry.")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash("You left the waitlist.", "success")
    return redirect(url_for("web.my_waitlist"))


@bp.get("/waitlist/<uuid:entry_id>/offer")
@role_required()
def offer_page(entry_id: uuid.UUID):
    """Where the email and the live banner lead: the offer and its two buttons, or why it is no longer open."""
    try:
        entry = waitlist_engine.own_entry(entry_id, current_user._get_current_object())
    except NotFound:
        abort(404, description="No such waitlist entry.")
    return render_template("shop/offer.html", w=entry, form=ConfirmForm())


@bp.post("/waitlist/<uuid:entry_id>/accept")
@role_required()
def accept_offer(entry_id: uuid.UUID):
    """Accepting is checking out the offer's hold, which is already the user's: go to its checkout."""
    require_confirmation()
    try:
        offer = waitlist_engine.open_offer(entry_id, current_user._get_current_object())
    except NotFound:
        abort(404, description="No such waitlist entry.")
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("web.offer_page", entry_id=entry_id))
    return redirect(url_for("web.checkout", hold_id=offer["hold_id"]))


@bp.post("/waitlist/<uuid:entry_id>/decline")
@role_required()
def decline_offer(entry_id: uuid.UUID):
    """The offer's places pass to the next in line at once, and the user leaves this waitlist."""
    require_confirmation()
    try:
        waitlist_engine.leave(entry_id, current_user._get_current_object(), only_offered=True)
    except NotFound:
        abort(404, description="No such waitlist entry.")
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("web.offer_page", entry_id=entry_id))
    flash("You declined the offer; its places went to the next person in line.", "success")
    return redirect(url_for("web.my_waitlist"))
