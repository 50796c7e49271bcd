"""The host's event form speaks the host's language: their time zone, minutes, plain English; and an event
whose start has passed cannot go on sale, by the form or by the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from atomicseats.extensions import db
from atomicseats.models import Event
from atomicseats.models.base import utcnow
from tests.web.test_pages import csrf_of, event_form, sign_in

PAST_START = "This event's start has passed, so it cannot go on sale. Move its start to a future date first."


def saved_event(app) -> Event:
    with app.app_context():
        event = db.session.scalar(select(Event).order_by(Event.id.desc()))
        db.session.expunge(event)
        return event


def test_times_are_read_in_the_hosts_zone_and_the_hold_time_in_minutes(app, client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    form = event_form(csrf, tz="Europe/Berlin", starts_at="2030-05-01T19:00", ends_at="2030-05-01T22:00")
    form["hold_minutes"] = "1.5"
    assert client.post("/host/events/new", data=form).status_code == 302
    event = saved_event(app)
    assert event.starts_at == datetime(2030, 5, 1, 17, 0, tzinfo=UTC)  # 19:00 in Berlin is 17:00 UTC in summer
    assert event.hold_seconds == 90

    page = client.get(f"/host/events/{event.id}/edit").get_data(as_text=True)
    assert 'value="2030-05-01T17:00"' in page  # UTC until the browser names its zone (event_form.js)
    assert 'id="tz" name="tz" type="hidden" value="UTC"' in page
    assert 'value="1.5"' in page


def test_an_unknown_time_zone_saves_nothing(app, client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    r = client.post("/host/events/new", data=event_form(csrf, tz="Mars/Olympus"))
    assert r.status_code == 200
    assert "time zone this server does not know" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Event)) is None


def test_errors_are_in_plain_english(client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    form = event_form(csrf, name="", ends_at="2030-05-01T18:00", **{"sections-0-price": "-1"})
    form["hold_minutes"] = "90"
    page = client.post("/host/events/new", data=form).get_data(as_text=True)
    assert '<p class="field-error" id="name-error">This cannot be empty.</p>' in page
    assert '<p class="field-error" id="ends_at-error">The end must be after the start.</p>' in page
    assert "The hold time must be between half a minute and 60 minutes." in page
    assert "Enter a price from €0 to €100,000." in page
    assert "String should" not in page and "must be after starts_at" not in page


def test_an_event_whose_start_has_passed_cannot_be_published(app, api, client, factory):
    host = factory.user("host")
    event = factory.event(host=host, publish=False)
    with app.app_context():
        db.session.get(Event, event.id).starts_at = utcnow() - timedelta(hours=1)
        db.session.commit()

    r = api.as_(host).post(f"/events/{event.id}/publish")
    assert r.status == 422
    assert r.body["error"]["code"] == "event_started"
    assert r.body["error"]["message"] == PAST_START
    assert r.body["error"]["details"] == {"fields": {"starts_at": PAST_START}}

    sign_in(client, host)
    csrf = csrf_of(client.get("/host/").get_data(as_text=True))
    page = client.post(f"/host/events/{event.id}/publish", data={"csrf_token": csrf}, follow_redirects=True)
    assert PAST_START.replace("'", "&#39;") in page.get_data(as_text=True)
    assert saved_event(app).status == "draft"
