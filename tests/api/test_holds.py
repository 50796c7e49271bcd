"""Holds through the API: bad input, ownership, expiry answers, idempotency, rate limits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from atomicseats.extensions import db
from atomicseats.models import Hold, IdempotencyKey
from tests.api.test_accounts import assert_error


def live_holds(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Hold))


def held_seats(app) -> int:
    with app.app_context():
        return db.session.scalar(text("SELECT count(*) FROM seats WHERE hold_id IS NOT NULL"))


@pytest.fixture
def event(factory):
    return factory.event(max_per_order=4)


BAD_BODIES = [
    ("not json", None, 400),
    ([1, 2], None, 400),
    ({}, "body", 422),
    ({"seat_ids": []}, "seat_ids", 422),
    ({"seat_ids": ["1"]}, "seat_ids.0", 422),
    ({"seat_ids": [1.5]}, "seat_ids.0", 422),
    ({"seat_ids": [-3]}, "seat_ids.0", 422),
    ({"seat_ids": [2**63]}, "seat_ids.0", 422),  # past PostgreSQL's bigint: no seat can have it
    ({"seat_ids": [1, 1]}, "body", 422),
    ({"seat_ids": [1], "quantity": 1}, "body", 422),
    ({"quantity": 0}, "quantity", 422),
    ({"quantity": "two"}, "quantity", 422),
    ({"quantity": 101}, "quantity", 422),
    ({"seat_ids": [1], "colour": "red"}, "colour", 422),
    ({"quantity": 2, "prefer": "random"}, "prefer", 422),
    ({"quantity": 2, "accessible": "yes"}, "accessible", 422),
    ({"seat_ids": [1, 2], "accessible": True}, "body", 422),  # accessible asks best available to choose
]


@pytest.mark.parametrize(("body", "field", "status"), BAD_BODIES)
def test_bad_hold_requests_get_4xx_in_the_error_shape_and_hold_nothing(api, factory, app, event, body, field, status):
    client = api.as_(factory.user())
    if body == "not json":
        response = client.request("POST", f"/events/{event.id}/holds", data="{oops", content_type="application/json")
    else:
        response = client.post(f"/events/{event.id}/holds", json=body)
    error = assert_error(response, status)
    if field:
        assert field in error["details"]["fields"], error
    assert live_holds(app) == 0 and held_seats(app) == 0


def test_rule_breaking_holds_are_refused_and_hold_nothing(api, factory, app, event):
    client = api.as_(factory.user())
    other_event = factory.event()
    seats = factory.seat_ids(event.id)
    assert_error(client.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:5]}), 422, "too_many_seats")
    foreign = factory.seat_ids(other_event.id)[:1]
    error = assert_error(client.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:1] + foreign}), 422)
    assert error["code"] == "unknown_seats" and error["details"]["unknown_seat_ids"] == foreign
    assert_error(client.post(f"/events/{event.id}/holds", json={"seat_ids": [999999]}), 422, "unknown_seats")
    assert_error(client.post("/events/424242/holds", json={"seat_ids": seats[:1]}), 404, "not_found")
    assert_error(client.post(f"/events/{2**64}/holds", json={"seat_ids": seats[:1]}), 404, "not_found")
    draft = factory.event(publish=False)
    assert_error(client.post(f"/events/{draft.id}/holds", json={"quantity": 1}), 404)
    general = factory.event(seating="general", capacity=10, price_cents=500)
    assert_error(client.post(f"/events/{general.id}/holds", json={"seat_ids": seats[:1]}), 422)
    no_wheelchairs = assert_error(
        client.post(f"/events/{general.id}/holds", json={"quantity": 2, "accessible": True}), 422
    )
    assert "accessible" in no_wheelchairs["details"]["fields"]
    assert live_holds(app) == 0 and held_seats(app) == 0


def test_signed_out_callers_cannot_hold(api, event, factory, app):
    assert_error(api.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)[:1]}), 401)
    assert live_holds(app) == 0


def test_second_hold_on_same_seat_gets_409_naming_the_seat(api, factory, event):
    seats = factory.seat_ids(event.id)
    first = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]})
    assert first.status == 201
    assert first.body["seats"][0]["label"] == "A-1" and first.body["total_cents"] == 9000
    assert 0 < first.body["expires_in"] <= event.hold_seconds
    error = assert_error(
        api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": seats[1:3]}),
        409,
        "seats_unavailable",
    )
    assert error["details"]["unavailable_seat_ids"] == [seats[1]]


def test_another_users_hold_is_404_for_read_and_release(api, factory, event, app):
    owner = api.as_(factory.user())
    hold_id = owner.post(f"/events/{event.id}/holds", json={"quantity": 2}).body["id"]
    stranger = api.as_(factory.user())
    assert_error(stranger.get(f"/holds/{hold_id}"), 404, "not_found")
    assert_error(stranger.delete(f"/holds/{hold_id}"), 404, "not_found")
    assert_error(stranger.get("/holds/not-a-uuid"), 404)
    assert owner.get(f"/holds/{hold_id}").body["quantity"] == 2
    assert held_seats(app) == 2


def test_release_frees_at_once_and_the_hold_then_answers_410(api, factory, event):
    client = api.as_(factory.user())
    hold_id = client.post(f"/events/{event.id}/holds", json={"quantity": 2}).body["id"]
    assert client.delete(f"/holds/{hold_id}").status == 204
    assert api.get(f"/events/{event.id}").body["availability"]["held"] == 0
    assert_error(client.get(f"/holds/{hold_id}"), 410, "hold_expired")
    assert_error(client.delete(f"/holds/{hold_id}"), 410, "hold_expired")


def test_a_repeated_idempotency_key_returns_the_first_hold(api, factory, app, event):
    client = api.as_(factory.user())
    seats = factory.seat_ids(event.id)
    headers = {"Idempotency-Key": "hold-1"}
    first = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]}, headers=headers)
    again = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]}, headers=headers)
    assert first.status == again.status == 201
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    changed = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats[2:4]}, headers=headers)
    assert_error(changed, 422, "idempotency_key_reused")
    assert live_holds(app) == 1


def test_concurrent_requests_with_one_idempotency_key_make_one_hold(app, factory, event):
    user = factory.user()
    token = factory.token(user)
    seats = factory.seat_ids(event.id)
    barrier = threading.Barrier(8)
    answers = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        response = client.post(
            f"/api/v1/events/{event.id}/holds",
            json={"seat_ids": seats[:3]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key"},
        )
        answers.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 8
    assert {status for status, _ in answers} == {201}
    assert len({hold_id for _, hold_id in answers}) == 1
    assert live_holds(app) == 1 and held_seats(app) == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_hold_creation_is_rate_limited_per_user(api, factory, app, event, monkeypatch):
    monkeypatch.setitem(app.config, "HOLD_RATE_LIMIT", "2 per minute")
    client = api.as_(factory.user())
    assert client.post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 201
    assert client.post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 409  # hold_exists
    limited = client.post(f"/events/{event.id}/holds", json={"quantity": 1})
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    # the limit is per user: someone else is not affected
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 201


def test_best_available_for_a_wheelchair_user_holds_a_wheelchair_space_with_its_companion_seat(api, factory):
    # Row A: wheelchair spaces 1 and 8, companion seats 2 and 7; plain best available keeps to 3..6.
    row = {"label": "A", "seats": 8, "accessible": [1, 8], "companion": [2, 7]}
    event = factory.event(sections=[{"name": "Stalls", "price_cents": 4500, "rows": [row]}])
    kinds = {s["id"]: s["kind"] for s in api.get(f"/events/{event.id}/seats").body["items"]}
    plain = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 2})
    assert plain.status == 201 and {kinds[s["id"]] for s in plain.body["seats"]} == {"standard"}
    first = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 2, "accessible": True})
    assert first.status == 201, first.body
    assert sorted(kinds[s["id"]] for s in first.body["seats"]) == ["accessible", "companion"]
    assert sorted(s["label"] for s in first.body["seats"]) in (["A-1", "A-2"], ["A-7", "A-8"])
    second = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 2, "accessible": True})
    assert second.status == 201 and sorted(kinds[s["id"]] for s in second.body["seats"]) == ["accessible", "companion"]
    # Both wheelchair spaces are held: a third wheelchair user is told so, and standard seats are not offered.
    refused = assert_error(
        api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 2, "accessible": True}),
        409,
        "seats_unavailable",
    )
    assert "wheelchair space" in refused["message"]
