"""The waiting room's endpoints and the admission check in front of holds."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from atomicseats.api import schemas
from atomicseats.booking import waiting_room
from atomicseats.extensions import db
from atomicseats.models import Event
from atomicseats.models.base import utcnow
from tests.api.test_metrics import scrape, value
from tests.web.test_pages import csrf_of, event_form, sign_in

_TICKS = itertools.count(1)


@pytest.fixture
def queued_event(factory):
    opens_at = (utcnow() - timedelta(minutes=1)).replace(microsecond=0)
    return factory.event(waiting_room={"enabled": True, "opens_at": opens_at.isoformat(), "admit_per_minute": 600})


def _admitted_token(app, api, event, user, now=None) -> str:
    """Join through the API, then run one admission round (the scheduler's job) at ``now``: the token as the
    person saw it then (one admitted long enough ago has expired by now). By default each round runs a second
    later than the one before, so that the room's rate has always let the next person in."""
    assert api.as_(user).post(f"/events/{event.id}/queue").status == 200
    now = now or utcnow() + timedelta(seconds=next(_TICKS))
    with app.app_context():
        waiting_room.admit(waiting_room.room_for(event.id), now)
        state = waiting_room.join(event.id, user.id, now=now)
    assert state.status == "admitted", state
    return state.admission_token


def _hold(api, user, event, factory, token=None, seat=0):
    headers = {"X-Admission-Token": token} if token else {}
    return api.as_(user).post(
        f"/events/{event.id}/holds", {"seat_ids": [factory.seat_ids(event.id)[seat]]}, headers=headers
    )


def test_joining_is_idempotent_and_the_ticket_is_only_its_owners(api, factory, queued_event):
    me, someone = factory.user(), factory.user()
    first = api.as_(me).post(f"/events/{queued_event.id}/queue")
    again = api.as_(me).post(f"/events/{queued_event.id}/queue")
    assert first.status == again.status == 200
    assert first.body["ticket"] == again.body["ticket"] and first.body["position"] == again.body["position"] == 1
    assert first.body["status"] == "waiting" and first.body["eta_seconds"] == 0
    schemas.QueueStateOut.model_validate(first.body)
    read = api.as_(me).get(f"/queue/{first.body['ticket']}")
    assert read.status == 200 and read.body["place"] == first.body["place"]
    assert api.as_(someone).get(f"/queue/{first.body['ticket']}").status == 404
    assert api.as_(me).get(f"/queue/{queued_event.id}-forged").status == 404


def test_event_json_has_its_waiting_room_and_a_host_can_change_it(api, factory):
    host = factory.user("host")
    event = factory.event(host=host)
    assert api.get(f"/events/{event.id}").body["waiting_room"] == {
        "enabled": False,
        "opens_at": None,
        "admit_per_minute": 60,
    }
    changed = api.as_(host).patch(f"/events/{event.id}", {"waiting_room": {"enabled": True, "admit_per_minute": 300}})
    assert changed.status == 200, changed.body
    assert changed.body["waiting_room"] == {"enabled": True, "opens_at": None, "admit_per_minute": 300}
    bad = api.as_(host).patch(f"/events/{event.id}", {"waiting_room": {"admit_per_minute": 0}})
    assert bad.status == 422 and "waiting_room.admit_per_minute" in bad.body["error"]["details"]["fields"]


def test_no_hold_without_an_admission_token_and_the_error_says_how_to_join(api, factory, queued_event):
    refused = _hold(api, factory.user(), queued_event, factory)
    assert refused.status == 403
    assert refused.body["error"]["code"] == "admission_required"
    assert refused.body["error"]["details"]["join"] == f"/api/v1/events/{queued_event.id}/queue"


def test_an_admitted_token_holds_once_then_is_used(app, api, factory, queued_event):
    user = factory.user()
    token = _admitted_token(app, api, queued_event, user)
    held = _hold(api, user, queued_event, factory, token)
    assert held.status == 201, held.body
    assert api.as_(user).delete(f"/holds/{held.body['id']}").status == 204
    again = _hold(api, user, queued_event, factory, token, seat=1)
    assert again.status == 403 and again.body["error"]["code"] == "admission_token_used"
    assert api.as_(user).post(f"/events/{queued_event.id}/queue").body["admission_used"] is True


def test_a_retried_hold_with_its_idempotency_key_gets_the_first_answer_though_that_hold_spent_the_token(
    app, api, factory, queued_event
):
    user = factory.user()
    token = _admitted_token(app, api, queued_event, user)
    seat_id = factory.seat_ids(queued_event.id)[0]

    def hold(key: str):
        return api.as_(user).post(
            f"/events/{queued_event.id}/holds",
            {"seat_ids": [seat_id]},
            headers={"X-Admission-Token": token, "Idempotency-Key": key},
        )

    first = hold("hold-once")
    assert first.status == 201, first.body
    again = hold("hold-once")
    assert again.status == 201, again.body
    assert again.body == first.body and again.headers.get("Idempotent-Replayed") == "true"
    other = hold("another-hold")  # a new key is a new hold, which the spent token no longer allows
    assert other.status == 403 and other.body["error"]["code"] == "admission_token_used"
    with app.app_context():
        holds = db.session.execute(
            text("SELECT count(*) FROM holds WHERE user_id = :u AND event_id = :e"),
            {"u": user.id, "e": queued_event.id},
        ).scalar()
        db.session.remove()
    assert holds == 1


def test_a_refused_hold_leaves_the_token_usable(app, api, factory, queued_event):
    holder, user = factory.user(), factory.user()
    first = _hold(api, holder, queued_event, factory, _admitted_token(app, api, queued_event, holder))
    assert first.status == 201
    token = _admitted_token(app, api, queued_event, user)
    assert _hold(api, user, queued_event, factory, token).status == 409  # the same seat: taken
    assert _hold(api, user, queued_event, factory, token, seat=1).status == 201


def test_expired_other_events_forged_and_someone_elses_tokens_are_refused(app, api, factory, queued_event):
    user, other = factory.user(), factory.user()
    other_event = factory.event(
        waiting_room={"enabled": True, "opens_at": utcnow().isoformat(), "admit_per_minute": 600}
    )
    expired = _admitted_token(app, api, queued_event, user, now=utcnow() - timedelta(seconds=200))
    foreign = _admitted_token(app, api, other_event, user)
    others = _admitted_token(app, api, queued_event, other)
    forged = others.rsplit(".", 1)[0].replace(f".{other.id}.", f".{user.id}.") + "." + others.rsplit(".", 1)[1]
    for token, code in (
        (expired, "admission_token_expired"),
        (foreign, "admission_token_wrong_event"),
        (others, "admission_token_not_yours"),
        (forged, "admission_token_invalid"),
        ("not-a-token", "admission_token_invalid"),
    ):
        refused = _hold(api, user, queued_event, factory, token)
        assert refused.status == 403 and refused.body["error"]["code"] == code, (code, refused.body)


def test_joining_an_event_without_a_waiting_room_is_404(api, factory):
    event = factory.event()
    assert api.as_(factory.user()).post(f"/events/{event.id}/queue").status == 404


def test_joining_before_the_pre_queue_window_is_409_naming_when(api, factory):
    opens_at = utcnow() + timedelta(hours=2)
    event = factory.event(waiting_room={"enabled": True, "opens_at": opens_at.isoformat()})
    early = api.as_(factory.user()).post(f"/events/{event.id}/queue")
    assert early.status == 409 and early.body["error"]["code"] == "queue_not_open"
    assert "queue_opens_at" in early.body["error"]["details"]


def test_metrics_count_the_line_admissions_and_abandoned_turns(app, api, client, factory):
    opens_at = utcnow() - timedelta(minutes=5)
    event = factory.event(waiting_room={"enabled": True, "opens_at": opens_at.isoformat(), "admit_per_minute": 1})
    for user in [factory.user() for _ in range(4)]:
        assert api.as_(user).post(f"/events/{event.id}/queue").status == 200
    with app.app_context():
        room = waiting_room.room_for(event.id)
        waiting_room.admit(room, utcnow() - timedelta(seconds=130))  # admitted long ago: lapsed unused by now
        waiting_room.admit(room, utcnow())  # a minute's credit, and the lapsed turn handed on: two more
    samples = scrape(client)
    assert value(samples, "atomicseats_metrics_source_up", source="waiting_room") == 1.0
    assert value(samples, "atomicseats_waiting_room_length", event=str(event.id)) == 1
    assert value(samples, "atomicseats_waiting_room_admitted_total") == 3
    assert value(samples, "atomicseats_waiting_room_admitted_last_minute") == 2
    assert value(samples, "atomicseats_waiting_room_abandoned_total") == 1


def test_a_host_turns_the_waiting_room_on_in_the_event_form(app, client, factory):
    sign_in(client, factory.user("host"))
    csrf = csrf_of(client.get("/host/events/new").get_data(as_text=True))
    form = event_form(csrf, waiting_room_enabled="y", waiting_room_opens_at="2030-05-01T10:00", admit_per_minute="120")
    assert client.post("/host/events/new", data=form).status_code == 302
    bad = client.post("/host/events/new", data={**form, "admit_per_minute": "0"}).get_data(as_text=True)
    assert 'id="admit_per_minute-error"' in bad
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert (event.waiting_room_enabled, event.admit_per_minute) == (True, 120)
        assert event.waiting_room_opens_at.isoformat() == "2030-05-01T10:00:00+00:00"


def test_the_event_page_of_a_queued_sale_leads_to_the_queue(client, factory, queued_event):
    html = client.get(f"/events/{queued_event.id}").get_data(as_text=True)
    assert f'href="/events/{queued_event.id}/queue"' in html and "Join the queue" in html
    plain = factory.event()
    assert "Join the queue" not in client.get(f"/events/{plain.id}").get_data(as_text=True)


def test_the_waiting_page_works_without_javascript_and_hands_the_token_to_the_seat_map(
    app, client, factory, queued_event
):
    user = factory.user()
    sign_in(client, user)
    with app.app_context():
        waiting_room.join(queued_event.id, factory.user().id)  # someone ahead
        waiting_room.admit(waiting_room.room_for(queued_event.id), utcnow())
    page = client.get(f"/events/{queued_event.id}/queue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "You are number <strong>1</strong> in line" in html
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in html
    assert 'aria-live="polite"' in html
    with app.app_context():
        waiting_room.admit(waiting_room.room_for(queued_event.id), utcnow() + timedelta(seconds=1))
    admitted = client.get(f"/events/{queued_event.id}/queue")
    assert admitted.status_code == 303 and admitted.headers["Location"].endswith(f"/events/{queued_event.id}")
    cookie = admitted.headers["Set-Cookie"]
    assert f"admission_{queued_event.id}=" in cookie and "HttpOnly" in cookie
    assert f"Path=/api/v1/events/{queued_event.id}/holds" in cookie
    csrf = csrf_of(client.get(f"/events/{queued_event.id}").get_data(as_text=True))
    seat_id = factory.seat_ids(queued_event.id)[0]
    held = client.post(
        f"/api/v1/events/{queued_event.id}/holds", json={"seat_ids": [seat_id]}, headers={"X-CSRFToken": csrf}
    )
    assert held.status_code == 201, held.get_json()
    assert "You have had your turn" in client.get(f"/events/{queued_event.id}/queue").get_data(as_text=True)


def test_one_token_makes_one_hold_however_many_tabs_send_it_at_once(app, api, factory, queued_event):
    user = factory.user()
    token = _admitted_token(app, api, queued_event, user)
    bearer = factory.token(user)
    seats = factory.seat_ids(queued_event.id)[:8]
    start = threading.Barrier(len(seats))

    def hold(seat_id: int) -> int:
        client = app.test_client()
        start.wait()
        return client.post(
            f"/api/v1/events/{queued_event.id}/holds",
            json={"seat_ids": [seat_id]},
            headers={"Authorization": f"Bearer {bearer}", "X-Admission-Token": token},
        ).status_code

    with ThreadPoolExecutor(len(seats)) as pool:
        statuses = list(pool.map(hold, seats))
    assert statuses.count(201) == 1, statuses
    assert set(statuses) - {201} <= {403, 409}
    with app.app_context():
        holds = db.session.execute(
            text("SELECT count(*) FROM holds WHERE user_id = :u AND event_id = :e"),
            {"u": user.id, "e": queued_event.id},
        ).scalar()
        used = db.session.execute(
            text("SELECT used_at IS NOT NULL FROM queue_admissions WHERE user_id = :u"), {"u": user.id}
        ).scalar()
        db.session.remove()
    assert (holds, used) == (1, True)


def test_tabs_joining_at_once_share_one_place(app, api, factory, queued_event):
    user = factory.user()
    bearer = factory.token(user)
    start = threading.Barrier(8)

    def join(_: int) -> dict:
        client = app.test_client()
        start.wait()
        return client.post(
            f"/api/v1/events/{queued_event.id}/queue", headers={"Authorization": f"Bearer {bearer}"}
        ).get_json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(join, range(8)))
    assert {(a["ticket"], a["place"]) for a in answers} == {(answers[0]["ticket"], 1)}
    second = factory.user()
    assert api.as_(second).post(f"/events/{queued_event.id}/queue").body["place"] == 2
