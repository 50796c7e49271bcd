"""Server-rendered pages: what they show, who may see them, and forms that change nothing when wrong."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from atomicseats.models import Event, Seat
from atomicseats.web.shop import BOOKINGS_PAGE
from tests.factories import PASSWORD


def sign_in(client, user) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)


def csrf_of(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def event_form(csrf: str, **overrides) -> dict:
    data = {
        "csrf_token": csrf,
        "name": "Three Sections",
        "venue": "Hall",
        "description": "",
        "starts_at": "2030-05-01T19:00",
        "ends_at": "2030-05-01T22:00",
        "seating": "reserved",
        "hold_minutes": "5",
        "max_per_order": "8",
        "waitlist_enabled": "y",
        "sections-0-name": "Stalls",
        "sections-0-price": "45.00",
        "sections-0-rows": "2",
        "sections-0-seats_per_row": "10",
        "sections-1-name": "Circle",
        "sections-1-price": "30",
        "sections-1-rows": "3",
        "sections-1-seats_per_row": "8",
        "sections-2-name": "Balcony",
        "sections-2-price": "15.50",
        "sections-2-rows": "1",
        "sections-2-seats_per_row": "6",
        "submit": "Save event",
    }
    data.update(overrides)
    return data


def test_event_list_filters_by_text_and_date(client, factory):
    factory.event(name="Hamlet")
    factory.event(name="Macbeth")
    page = client.get("/?q=haml").get_data(as_text=True)
    assert "Hamlet" in page and "Macbeth" not in page
    assert "Hamlet" not in client.get("/?date_from=2099-01-01").get_data(as_text=True)
    bad = client.get("/?date_from=2030-01-02&date_to=2030-01-01").get_data(as_text=True)
    assert "must not be before" in bad


def test_event_page_shows_legend_prices_and_map_data(client, factory):
    event = factory.event()
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "Section 1" in page and "€45.00" in page and 'id="seatmap"' in page
    assert client.get("/events/999999").status_code == 404


def test_draft_event_page_is_404_to_visitors(client, factory):
    assert client.get(f"/events/{factory.event(publish=False).id}").status_code == 404


def test_host_creates_event_with_three_sections_through_the_form(app, client, factory):
    host = factory.user("host")
    sign_in(client, host)
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    r = client.post("/host/events/new", data=event_form(csrf))
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert (event.status, event.capacity) == ("draft", 20 + 24 + 6)
        labels = set(db.session.scalars(select(Seat.label).where(Seat.event_id == event.id)))
        assert {"A-1", "B-10", "C-8", "E-8", "F-6"} <= labels
    page = client.get("/host/").get_data(as_text=True)
    assert "Three Sections" in page


def test_invalid_event_form_shows_field_errors_and_creates_nothing(app, client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    r = client.post(
        "/host/events/new",
        data=event_form(
            csrf, name="", ends_at="2030-05-01T18:00", **{"sections-1-seats_per_row": "0", "sections-2-price": "-1"}
        ),
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert page.count('class="field-error"') >= 4, page
    assert "The end must be after the start." in page
    assert 'id="sections-1-seats_per_row-error"' in page and 'id="sections-2-price-error"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_add_section_button_adds_a_block_without_saving(app, client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    page = client.post("/host/events/new", data={"csrf_token": csrf, "add_section": "1"}).get_data(as_text=True)
    assert 'name="sections-1-name"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_host_publishes_and_another_host_cannot_see_sales(client, factory):
    host = factory.user("host")
    event = factory.event(host=host, publish=False)
    sign_in(client, host)
    csrf = csrf_of(client.get("/host/").get_data(as_text=True))
    assert client.post(f"/host/events/{event.id}/publish", data={"csrf_token": csrf}).status_code == 302
    assert "on sale" in client.get("/host/").get_data(as_text=True)
    assert client.get(f"/host/events/{event.id}/sales").status_code == 200
    assert client.get(f"/host/events/{event.id}/sales.csv").headers["Content-Type"].startswith("text/csv")
    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, factory.user("host"))
    assert client.get(f"/host/events/{event.id}/sales").status_code == 403


def test_checkout_of_another_users_hold_is_404(api, client, factory):
    event = factory.event()
    owner = factory.user()
    hold = api.as_(owner).post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)[:2]}).body
    sign_in(client, factory.user())
    assert client.get(f"/checkout/{hold['id']}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    sign_in(client, owner)
    page = client.get(f"/checkout/{hold['id']}").get_data(as_text=True)
    assert "€90.00" in page and 'data-state="holding"' in page


def test_admin_pages_and_role_change(app, client, factory):
    admin = factory.user("admin")
    someone = factory.user()
    factory.event()
    sign_in(client, admin)
    assert "Utilisation per event" in client.get("/admin/").get_data(as_text=True)
    page = client.get("/admin/users").get_data(as_text=True)
    r = client.post(
        f"/admin/users/{someone.id}/role", data={"csrf_token": csrf_of(page), f"u{someone.id}-role": "host"}
    )
    assert r.status_code == 302
    assert "is now host" in client.get("/admin/users").get_data(as_text=True)


def test_my_bookings_and_waitlist_pages_render_empty(client, factory):
    sign_in(client, factory.user())
    assert "no bookings yet" in client.get("/bookings").get_data(as_text=True)
    assert "not on any waitlist" in client.get("/waitlist").get_data(as_text=True)


def test_signed_out_host_pages_send_to_sign_in_and_back(client):
    r = client.get("/host/")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=")
    assert "next=%2Fhost%2F" in r.headers["Location"]


def test_my_bookings_come_a_page_at_a_time_newest_first_each_once(api, client, factory):
    buyer = factory.user()
    own = api.as_(buyer)
    made = []
    for _ in range(BOOKINGS_PAGE + 3):
        event = factory.event(sections=[{"name": "S", "price_cents": 1000, "rows": [{"label": "A", "seats": 1}]}])
        held = own.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)})
        booked = own.post("/bookings", json={"hold_id": held.body["id"], "payment": {"card_number": CARD_APPROVED}})
        assert booked.status == 202, booked.body
        made.append(own.get(f"/bookings/{booked.body['id']}").body["reference"])
    sign_in(client, buyer)

    first = client.get("/bookings").get_data(as_text=True)
    older = re.search(r'<a href="(/bookings\?cursor=[^"]+)" rel="next">Older bookings</a>', first).group(1)
    second = client.get(older.replace("&amp;", "&")).get_data(as_text=True)

    def references(page: str) -> list[str]:
        return re.findall(r"Reference <strong>([^<]+)</strong>", page)

    assert references(first) == made[::-1][:BOOKINGS_PAGE]
    assert references(second) == made[::-1][BOOKINGS_PAGE:]
    assert "Older bookings" not in second and 'href="/bookings">Newest bookings</a>' in second
    assert "Newest bookings" not in first
    assert client.get("/bookings?cursor=bm90LWEtY3Vyc29y").status_code == 400
