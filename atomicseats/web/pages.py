"""Event list and event pages; the seat map itself is drawn and kept live by static/js/seatmap.js."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from atomicseats.booking import availability, catalog, inventory
from atomicseats.exceptions import NotFound
from atomicseats.extensions import db
from atomicseats.models import Event, Hold, HoldSeat, Section
from atomicseats.models.base import utcnow
from atomicseats.models.holds import LIVE_HOLD_STATUSES
from atomicseats.web import bp
from atomicseats.web.shop_forms import SearchForm, WaitlistForm

PAGE_SIZE = 50


@bp.app_template_filter("money")
def money(cents: int | None) -> str:
    """Integer cents as euros, the way every page and the seat map's labels show prices."""
    if cents is None:
        return ""
    return f"€{cents // 100:,}.{cents % 100:02d}"


@bp.app_template_filter("when")
def when(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")


def lowest_prices(events: list[Event]) -> dict[int, int]:
    """``{event_id: cheapest price in cents}`` for the list's "from €X", in one query for all reserved events."""
    prices = {e.id: e.price_cents for e in events if e.seating != "reserved"}
    reserved = [e.id for e in events if e.seating == "reserved"]
    if reserved:
        rows = db.session.execute(
            select(Section.event_id, func.min(Section.price_cents))
            .where(Section.event_id.in_(reserved))
            .group_by(Section.event_id)
        )
        prices.update({event_id: cents for event_id, cents in rows})
    return prices


def price_tiers(event: Event) -> list[dict]:
    """Sections grouped by price, dearest first: the seat map colours seats by the tier's position here."""
    tiers: dict[int, list[str]] = {}
    for section in sorted(event.sections, key=lambda s: -s.price_cents):
        tiers.setdefault(section.price_cents, []).append(section.name)
    return [{"price_cents": price, "sections": names} for price, names in tiers.items()]


@bp.app_context_processor
def live_hold_banner() -> dict:
    """``live_hold()`` for the layout's "seats on hold" banner: one indexed lookup, made only when a page asks."""

    def live_hold() -> Hold | None:
        if not current_user.is_authenticated:
            return None
        return db.session.scalar(
            select(Hold)
            .where(Hold.user_id == current_user.id, Hold.status.in_(LIVE_HOLD_STATUSES), Hold.expires_at > utcnow())
            .order_by(Hold.expires_at.desc())
            .limit(1)
        )

    return {"live_hold": live_hold}


def signed_in_user():
    return current_user._get_current_object() if current_user.is_authenticated else None


@bp.get("/")
def index():
    form = SearchForm(request.args)
    events: list[Event] = []
    if not request.args or form.validate():
        criteria = catalog.EventSearch(
            q=form.q.data or None,
            starts_from=datetime.combine(form.date_from.data, time.min, UTC) if form.date_from.data else None,
            starts_to=datetime.combine(form.date_to.data, time.max, UTC) if form.date_to.data else None,
        )
        events = catalog.search(db.session, criteria, limit=PAGE_SIZE)
    counts = availability.counts_for(db.session, [e.id for e in events], utcnow())
    return render_template("events/list.html", events=events, counts=counts, prices=lowest_prices(events), form=form)


@bp.get("/events/<int:event_id>")
def event_page(event_id: int, waitlist_form: WaitlistForm | None = None):
    """The event and its seat map; ``waitlist_form``: a refused waitlist form, shown again with its errors."""
    user = signed_in_user()
    try:
        event = inventory.visible_event(event_id, user)
    except NotFound:
        abort(404, description="No such event.")
    now = utcnow()
    hold = None
    if user is not None:
        hold = db.session.scalar(
            select(Hold).where(
                Hold.user_id == user.id,
                Hold.event_id == event.id,
                Hold.status.in_(LIVE_HOLD_STATUSES),
                Hold.expires_at > now,
            )
        )
    hold_seat_ids = (
        list(db.session.scalars(select(HoldSeat.seat_id).where(HoldSeat.hold_id == hold.id))) if hold else []
    )
    return render_template(
        "events/event.html",
        event=event,
        counts=availability.counts(db.session, event.id, now),
        hold=hold,
        hold_seat_ids=hold_seat_ids,
        tiers=price_tiers(event),
        waitlist_form=waitlist_form or WaitlistForm(),
    )
