"""Pages for hosts: their events' figures, the event forms, publish and cancel, sales and its CSV export."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from atomicseats.auth import role_required
from atomicseats.booking import inventory, reports
from atomicseats.booking.specs import EventPatch, EventSpec, SeatMapEdit, parse
from atomicseats.exceptions import Conflict, Forbidden, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.host.forms import EventForm
from atomicseats.models import Booking, Event, Seat, Section
from atomicseats.web.pages import price_tiers
from atomicseats.web.shop_forms import ConfirmForm, require_confirmation

bp = Blueprint("host", __name__)


def _user():
    return current_user._get_current_object()


def _managed(event_id: int) -> Event:
    try:
        return inventory.managed_event(event_id, _user())
    except NotFound:
        abort(404, description="No such event.")
    except Forbidden as exc:
        abort(403, description=exc.message)


@bp.get("/")
@role_required("host")
def dashboard():
    return render_template("host/dashboard.html", events=reports.host_events(_user()), form=ConfirmForm())


def _builder_action(form: EventForm) -> bool:
    """Add or remove a sections-builder block; True when the press was one of those (nothing is saved)."""
    if form.add_section.data and len(form.sections) < form.sections.max_entries:
        form.sections.append_entry()
        return True
    if form.remove_section.data:
        if len(form.sections) > 1:
            form.sections.pop_entry()
        return True
    return False


@bp.route("/events/new", methods=["GET", "POST"])
@role_required("host")
def create_event():
    form = EventForm()
    if request.method == "POST" and not _builder_action(form) and form.validate_on_submit():
        try:
            spec = parse(EventSpec, form.data_for_spec())
            event = inventory.create_event(_user(), spec).obj
        except Invalid as exc:
            form.show_errors(exc.details.get("fields", {"body": exc.message}))
        else:
            flash(f"“{event.name}” is saved as a draft. Publish it to put it on sale.", "success")
            return redirect(url_for("host.dashboard"))
    return render_template("host/event_form.html", form=form, event=None, sections_editable=True)


def _layout(event: Event) -> list[dict]:
    """Each section's name, price, number of rows and widest row, as the sections builder shows them."""
    rows = db.session.execute(
        select(
            Section.name,
            Section.price_cents,
            func.count(func.distinct(Seat.row_label)).label("rows"),
            func.max(Seat.number).label("seats_per_row"),
        )
        .join(Seat, Seat.section_id == Section.id)
        .where(Section.event_id == event.id)
        .group_by(Section.id)
        .order_by(Section.position)
    )
    return [dict(r._mapping) for r in rows]


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@role_required("host")
def edit_event(event_id: int):
    event = _managed(event_id)
    layout = _layout(event)
    sections_editable = event.status == "draft" and event.seating == "reserved"
    form = EventForm()
    if request.method == "GET":
        form.fill_from(event, layout)
    form.seating.data = event.seating  # seating type is fixed once the event exists
    if not sections_editable:
        form.fill_sections(layout)  # shown for reference; a disabled fieldset submits nothing
    if request.method == "POST" and not _builder_action(form) and form.validate_on_submit():
        data = form.data_for_spec(include_seating=False, include_sections=sections_editable)
        if sections_editable:
            before = EventForm(formdata=None)
            before.fill_from(event, layout)
            if before.sections_for_spec() == data["sections"]:
                del data["sections"]  # unchanged: keep the seat map (and its seat ids) as it is
        try:
            inventory.update_event(event.id, _user(), parse(EventPatch, data))
        except Invalid as exc:
            form.show_errors(exc.details.get("fields", {"body": exc.message}))
        except Conflict as exc:
            form.form_errors.append(exc.message)
        else:
            flash(f"“{form.name.data}” is saved.", "success")
            return redirect(url_for("host.dashboard"))
    return render_template("host/event_form.html", form=form, event=event, sections_editable=sections_editable)


@bp.get("/events/<int:event_id>/seats")
@role_required("host")
def seat_map(event_id: int):
    """The seat-map editor: marks, aisles and gaps, while the event is a draft (inventory.edit_seat_map)."""
    event = _managed(event_id)
    if event.seating != "reserved":
        abort(404, description="A general admission event has no seat map.")
    for_sale, total = db.session.execute(
        select(func.count().filter(Seat.for_sale), func.count()).where(Seat.event_id == event.id)
    ).one()
    return render_template(
        "host/seat_map.html",
        event=event,
        editable=event.status == "draft",
        tiers=price_tiers(event),
        for_sale=for_sale,
        total=total,
    )


@bp.post("/events/<int:event_id>/seats")
@role_required("host")
def save_seat_map(event_id: int):
    """The editor's save, as JSON (CSRF in the X-CSRFToken header); errors come back in SPEC's error shape."""
    edit = parse(SeatMapEdit, request.get_data())
    return jsonify({"seats_for_sale": inventory.edit_seat_map(event_id, _user(), edit)})


@bp.post("/events/<int:event_id>/publish")
@role_required("host")
def publish_event(event_id: int):
    event = _managed(event_id)
    require_confirmation()
    try:
        inventory.publish_event(event.id, _user())
    except (Conflict, Invalid) as exc:
        flash(exc.message, "error")
    else:
        flash(f"“{event.name}” is on sale.", "success")
    return redirect(url_for("host.dashboard"))


@bp.route("/events/<int:event_id>/cancel", methods=["GET", "POST"])
@role_required("host")
def cancel_event(event_id: int):
    """A page of its own: cancelling refunds every booking, so the host confirms knowing how many."""
    event = _managed(event_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            inventory.cancel_event(event.id, _user())
        except Conflict as exc:
            flash(exc.message, "error")
        else:
            flash(f"“{event.name}” is cancelled; its bookings are cancelled and holders notified.", "success")
        return redirect(url_for("host.dashboard"))
    bookings = db.session.scalar(
        select(func.count()).where(Booking.event_id == event.id, Booking.status.in_(("pending", "confirmed")))
    )
    return render_template("host/cancel.html", event=event, bookings=bookings, form=form)


@bp.get("/events/<int:event_id>/sales")
@role_required("host")
def sales(event_id: int):
    event = _managed(event_id)
    return render_template("host/sales.html", event=event, sales=reports.event_sales(event.id, _user()))


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula (a name like ``=HYPERLINK(...)``) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/events/<int:event_id>/sales.csv")
@role_required("host")
def sales_csv(event_id: int):
    """The attendee list for a spreadsheet or the door list."""
    event = _managed(event_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "name", "email", "seats", "quantity", "total_eur", "confirmed_at"])
    for a in reports.event_sales(event.id, _user())["attendees"]:
        total = f"{a['total_cents'] // 100}.{a['total_cents'] % 100:02d}"
        row = [a["reference"], a["name"], a["email"], a["seats"], a["quantity"], total, a["confirmed_at"]]
        writer.writerow([_cell(v) for v in row])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}-attendees.csv"'},
    )
