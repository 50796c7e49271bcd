"""Host sales and admin analytics over the JSON API: the figures and who may see them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import text

from atomicseats.booking import checkout
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.web.test_pages import sign_in


def test_host_sees_own_event_sales_by_section_with_held_seats(api, factory):
    host = factory.user("host")
    event = factory.event(
        host=host,
        sections=[
            {"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 4}]},
            {"name": "Circle", "price_cents": 3000, "rows": [{"label": "B", "seats": 6}]},
        ],
    )
    seats = factory.seat_ids(event.id)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]}).status == 201

    r = api.as_(host).get(f"/host/events/{event.id}/sales")

    assert r.status == 200, r.body
    assert r.body["event"] | {"total": 10, "held": 2, "sold": 0, "available": 8, "revenue_cents": 0} == r.body["event"]
    assert [(s["section"], s["price_cents"], s["total"], s["held"], s["available"]) for s in r.body["by_section"]] == [
        ("Stalls", 4500, 4, 2, 2),
        ("Circle", 3000, 6, 0, 6),
    ]
    assert r.body["attendees"] == [] and r.body["by_day"] == []


def test_another_host_gets_403_and_attendee_403_and_draft_404(api, factory):
    event = factory.event()
    draft = factory.event(publish=False)
    assert api.as_(factory.user("host")).get(f"/host/events/{event.id}/sales").status == 403
    assert api.as_(factory.user()).get(f"/host/events/{event.id}/sales").status == 403
    assert api.as_(factory.user("host")).get(f"/host/events/{draft.id}/sales").status == 404
    assert api.get(f"/host/events/{event.id}/sales").status == 401


def test_admin_analytics_counts_published_events_only(api, factory):
    factory.event()
    factory.event(publish=False)
    assert api.as_(factory.user("host")).get("/admin/analytics").status == 403

    r = api.as_(factory.user("admin")).get("/admin/analytics")

    assert r.status == 200, r.body
    assert r.body["totals"]["events"] == 1
    assert [e["total"] for e in r.body["events"]] == [20]
    assert r.body["most_popular"] == [] and r.body["revenue_by_day"] == []


def _booked(app, api, factory, event_id: int, seat_ids: list[int], user=None, cancel: bool = False) -> dict:
    """A booking made through the API and confirmed by the engine, as the worker does (then cancelled if asked)."""
    buyer = api.as_(user or factory.user())
    held = buyer.post(f"/events/{event_id}/holds", json={"seat_ids": seat_ids})
    assert held.status == 201, held.body
    booking = buyer.post("/bookings", json={"hold_id": held.body["id"], "payment": {"card_number": CARD_APPROVED}})
    assert booking.status == 202, booking.body
    with app.app_context():
        assert checkout.confirm_booking(booking.body["id"], f"test-{booking.body['id']}").status == "confirmed"
        db.session.remove()
    if cancel:
        assert buyer.post(f"/bookings/{booking.body['id']}/cancel").status == 200
    return buyer.get(f"/bookings/{booking.body['id']}").body


def _confirmed_days_ago(app, booking_id: str, days: int) -> None:
    with app.app_context():
        db.session.execute(
            text("UPDATE bookings SET confirmed_at = confirmed_at - make_interval(days => :d) WHERE id = :b"),
            {"b": booking_id, "d": days},
        )
        db.session.commit()
        db.session.remove()


def test_admin_analytics_count_confirmed_bookings_only_rank_events_and_sum_revenue_by_day(api, factory, app):
    host = factory.user("host")
    small = factory.event(
        host=host, name="Small", sections=[{"name": "S", "price_cents": 4500, "rows": [{"label": "A", "seats": 4}]}]
    )
    big = factory.event(
        host=host, name="Big", sections=[{"name": "B", "price_cents": 3000, "rows": [{"label": "A", "seats": 8}]}]
    )
    small_seats, big_seats = factory.seat_ids(small.id), factory.seat_ids(big.id)
    _booked(app, api, factory, small.id, small_seats[:2])  # 90.00 today
    _booked(app, api, factory, small.id, small_seats[2:3], cancel=True)  # counts nowhere
    early = _booked(app, api, factory, big.id, big_seats[:3])  # 90.00, two days ago
    _booked(app, api, factory, big.id, big_seats[3:4])  # 30.00 today
    _confirmed_days_ago(app, early["id"], 2)
    admin = factory.user("admin")

    r = api.as_(admin).get("/admin/analytics")

    assert r.status == 200, r.body
    users = 1 + 4 + 1  # the host, four buyers, the admin
    assert r.body["totals"] == {"bookings": 3, "seats_sold": 6, "revenue_cents": 21000, "events": 2, "users": users}
    assert [(e["name"], e["sold"], e["revenue_cents"]) for e in r.body["most_popular"]] == [
        ("Big", 4, 12000),
        ("Small", 2, 9000),
    ]
    figures = {e["name"]: e for e in r.body["events"]}
    assert (figures["Small"]["sold"], figures["Small"]["available"], figures["Small"]["utilisation"]) == (2, 2, 0.5)
    assert (figures["Big"]["bookings"], figures["Big"]["utilisation"]) == (2, 0.5)
    today = utcnow().date()
    assert r.body["revenue_by_day"] == [
        {"day": (today - timedelta(days=2)).isoformat(), "bookings": 1, "revenue_cents": 9000},
        {"day": today.isoformat(), "bookings": 2, "revenue_cents": 12000},
    ]


def test_the_host_csv_lists_confirmed_bookings_with_their_seats_and_quotes_formulas(api, factory, app, client):
    host = factory.user("host")
    event = factory.event(
        host=host, sections=[{"name": "S", "price_cents": 4550, "rows": [{"label": "A", "seats": 6}]}]
    )
    seats = factory.seat_ids(event.id)
    first = _booked(app, api, factory, event.id, seats[:2], user=factory.user(name='=HYPERLINK("http://x.example")'))
    second = _booked(app, api, factory, event.id, seats[2:3], user=factory.user(name="+1 Plain"))
    _booked(app, api, factory, event.id, seats[3:4], cancel=True)
    api.as_(factory.user(name="@Holder")).post(f"/events/{event.id}/holds", json={"seat_ids": seats[4:5]})
    sign_in(client, host)

    response = client.get(f"/host/events/{event.id}/sales.csv")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="event-{event.id}-attendees.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["reference", "name", "email", "seats", "quantity", "total_eur", "confirmed_at"]
    assert [row[:6] for row in rows[1:]] == [
        [first["reference"], '\'=HYPERLINK("http://x.example")', _email(app, first), "A-1 A-2", "2", "91.00"],
        [second["reference"], "'+1 Plain", _email(app, second), "A-3", "1", "45.50"],
    ]
    assert [row[6] for row in rows[1:]] == [first["confirmed_at"], second["confirmed_at"]]


def _email(app, booking: dict) -> str:
    with app.app_context():
        try:
            return db.session.scalar(
                text("SELECT u.email FROM users u JOIN bookings b ON b.user_id = u.id WHERE b.id = :b"),
                {"b": booking["id"]},
            )
        finally:
            db.session.remove()
