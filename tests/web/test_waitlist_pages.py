"""The waitlist on the web: an offer's page (where the email links) accepts or declines by POST only, for its
owner only; the join form carries preferences; a partial hold's checkout offers the waitlist for the rest."""

from __future__ import annotations

import re

from atomicseats import emails
from tests.api.test_waitlist_offers import ONE_ROW, allocate, entry_of
from tests.factories import reserved_sections
from tests.pipeline.helpers import query
from tests.web.test_pages import csrf_of, sign_in


def offered_entry(api, factory, app):
    """A user with an open offer on a one-row event (two seats), and the API client of that user."""
    event = factory.event(sections=ONE_ROW)
    holder = api.as_(factory.user())
    held = holder.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)})
    user = factory.user()
    waiting = api.as_(user)
    assert waiting.post(f"/events/{event.id}/waitlist", json={"quantity": 2}).status == 201
    assert holder.delete(f"/holds/{held.body['id']}").status == 204
    allocate(app, event.id)
    entry = entry_of(waiting)
    assert entry["status"] == "offered"
    return user, waiting, entry


def test_the_offer_link_shows_buttons_and_changes_nothing_and_accept_leads_to_checkout(api, client, factory, app):
    user, waiting, entry = offered_entry(api, factory, app)
    page_url = f"/waitlist/{entry['id']}/offer"
    assert client.get(page_url).headers["Location"].startswith("/login?next=")  # the email's link signs in first

    sign_in(client, user)
    page = client.get(page_url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2 places are held for you" in html
    assert f'action="/waitlist/{entry["id"]}/accept"' in html and f'action="/waitlist/{entry["id"]}/decline"' in html
    assert entry_of(waiting)["status"] == "offered"  # looking is not deciding

    assert client.post(f"/waitlist/{entry['id']}/decline").status_code == 400  # no CSRF token
    assert entry_of(waiting)["status"] == "offered"
    accepted = client.post(f"/waitlist/{entry['id']}/accept", data={"csrf_token": csrf_of(html)})
    assert accepted.status_code == 302
    assert accepted.headers["Location"] == f"/checkout/{entry['offer']['hold_id']}"


def test_declining_on_the_web_passes_the_places_on_and_only_the_owner_may(api, client, factory, app):
    user, waiting, entry = offered_entry(api, factory, app)
    sign_in(client, factory.user())
    csrf = csrf_of(client.get("/waitlist").get_data(as_text=True))
    assert client.get(f"/waitlist/{entry['id']}/offer").status_code == 404
    assert client.post(f"/waitlist/{entry['id']}/decline", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/waitlist/{entry['id']}/accept", data={"csrf_token": csrf}).status_code == 404
    assert entry_of(waiting)["status"] == "offered"
    client.post("/logout", data={"csrf_token": csrf})

    sign_in(client, user)
    listing = client.get("/waitlist").get_data(as_text=True)
    assert "Accept and check out" in listing and "Decline the offer" in listing
    declined = client.post(f"/waitlist/{entry['id']}/decline", data={"csrf_token": csrf_of(listing)})
    assert declined.status_code == 302 and declined.headers["Location"] == "/waitlist"
    assert entry_of(waiting)["status"] == "left"
    freed = query(app, "SELECT 1 FROM holds WHERE id = :h AND status = 'released'", h=entry["offer"]["hold_id"])
    assert freed, "the offer's hold is released at once"
    again = client.get(f"/waitlist/{entry['id']}/offer").get_data(as_text=True)
    assert "no longer open" in again and "Accept and check out" not in again


def test_the_join_form_carries_preferences_and_refuses_what_no_offer_could_meet(api, client, factory, app):
    event = factory.event(sections=reserved_sections(sections=2, rows=1, seats=2))
    holder = api.as_(factory.user())
    assert holder.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)}).status == 201
    user = factory.user()
    sign_in(client, user)
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    section_ids = [int(s) for s in re.findall(r'name="section_ids" value="(\d+)"', page)]
    assert len(section_ids) == 2 and 'name="together"' in page and 'name="accept_partial"' in page
    form = {"csrf_token": csrf_of(page), "quantity": "2", "together": "y", "accept_partial": "y"}

    chosen = {"section_ids": [str(section_ids[0])]}
    too_cheap = client.post(f"/events/{event.id}/waitlist", data={**form, **chosen, "max_price": "1.00"})
    html = too_cheap.get_data(as_text=True)
    assert too_cheap.status_code == 200  # the event page again, the error next to its field
    assert re.search(r'<p class="field-error" id="max_price-error">[^<]*costs that little', html)
    assert re.search(rf'value="{section_ids[0]}" checked', html) and f'value="{section_ids[1]}" checked' not in html
    negative = client.post(f"/events/{event.id}/waitlist", data={**form, "max_price": "-1"}).get_data(as_text=True)
    assert re.search(r'id="max_price-error">Enter an amount from 0.', negative)
    foreign = client.post(f"/events/{event.id}/waitlist", data={**form, "section_ids": "999999"}).get_data(as_text=True)
    assert re.search(r'id="section_ids-error">not sections of this event', foreign)
    assert query(app, "SELECT 1 FROM waitlist_entries WHERE event_id = :e", e=event.id) == []

    joined = client.post(
        f"/events/{event.id}/waitlist", data={**form, "max_price": "35.00", "section_ids": [str(section_ids[1])]}
    )
    assert joined.status_code == 302 and joined.headers["Location"] == "/waitlist"
    row = query(
        app,
        "SELECT quantity, accept_partial, together, section_ids, max_price_cents FROM waitlist_entries "
        "WHERE event_id = :e",
        e=event.id,
    )
    assert [tuple(r) for r in row] == [(2, True, True, [section_ids[1]], 3500)]


def test_a_partial_hold_offers_the_waitlist_for_the_rest_at_checkout(api, client, factory, app):
    event = factory.event(seating="general", capacity=3)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 201
    user = factory.user()
    held = api.as_(user).post(f"/events/{event.id}/holds", json={"quantity": 5, "allow_partial": True})
    assert held.status == 201 and held.body["shortfall"] == 3, held.body
    sign_in(client, user)

    page = client.get(f"/checkout/{held.body['id']}?shortfall=3").get_data(as_text=True)
    assert "Join the waitlist for the rest" in page
    assert re.search(r'<input[^>]*id="quantity"[^>]*value="3"', page)
    assert "Join the waitlist for the rest" not in client.get(f"/checkout/{held.body['id']}").get_data(as_text=True)
    joined = client.post(
        f"/events/{event.id}/waitlist", data={"csrf_token": csrf_of(page), "quantity": "3", "accept_partial": "y"}
    )
    assert joined.status_code == 302
    assert [tuple(r) for r in query(app, "SELECT quantity, accept_partial FROM waitlist_entries")] == [(3, True)]


def test_the_offer_email_links_to_the_offer_page(app, factory):
    user = factory.user()
    event = factory.event()
    payload = {
        "kind": "waitlist_offer",
        "user_id": user.id,
        "event_id": event.id,
        "entry_id": "3f2a9c1e-0000-4000-8000-000000000001",
        "quantity": 2,
        "expires_at": "2030-01-01T10:00:00+00:00",
    }
    with app.app_context():
        email = emails.compose(payload)
    assert "/waitlist/3f2a9c1e-0000-4000-8000-000000000001/offer" in email.text
    assert 'href="http' in email.html and "/waitlist/3f2a9c1e-0000-4000-8000-000000000001/offer" in email.html
