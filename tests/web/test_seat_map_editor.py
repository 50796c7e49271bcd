"""The host's seat-map editor (inventory.edit_seat_map behind POST /host/events/<id>/seats): marks, gaps and aisles
on a draft, all or nothing; only the event's host; and a seat kept off sale is never held, counted or offered."""

from __future__ import annotations

from sqlalchemy import text

from atomicseats.booking import availability
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.web.test_pages import csrf_of, sign_in


def seats_of(app, event_id: int) -> dict[int, dict]:
    with app.app_context():
        rows = db.session.execute(
            text("SELECT id, label, kind, for_sale, x, y FROM seats WHERE event_id = :e ORDER BY id"), {"e": event_id}
        )
        return {r.id: dict(r._mapping) for r in rows}


def editor(client, user, event_id: int):
    """Sign in and open the editor; returns a function that saves a body as the editor's script does."""
    sign_in(client, user)
    page = client.get(f"/host/events/{event_id}/seats")
    assert page.status_code == 200
    csrf = csrf_of(page.get_data(as_text=True))

    def save(body, token: str | None = csrf):
        headers = {"Accept": "application/json", **({"X-CSRFToken": token} if token else {})}
        return client.post(f"/host/events/{event_id}/seats", json=body, headers=headers)

    return save


def test_host_marks_seats_and_adds_an_aisle_on_a_draft(app, client, factory):
    host = factory.user("host")
    event = factory.event(host=host, publish=False)
    ids = factory.seat_ids(event.id)
    before = seats_of(app, event.id)
    right_of_5 = [i for i in ids if before[i]["y"] == before[ids[0]]["y"] and before[i]["x"] > before[ids[4]]["x"]]
    body = {
        "seats": [
            {"id": ids[0], "kind": "accessible"},
            {"id": ids[1], "kind": "companion"},
            {"id": ids[2], "for_sale": False},
            *({"id": i, "x": before[i]["x"] + 1, "y": before[i]["y"]} for i in right_of_5),
        ]
    }
    r = editor(client, host, event.id)(body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"seats_for_sale": len(ids) - 1}
    after = seats_of(app, event.id)
    assert (after[ids[0]]["kind"], after[ids[1]]["kind"], after[ids[2]]["for_sale"]) == (
        "accessible",
        "companion",
        False,
    )
    assert [after[i]["x"] for i in right_of_5] == [before[i]["x"] + 1 for i in right_of_5]
    listed = {s["id"]: s for s in client.get(f"/api/v1/events/{event.id}/seats").get_json()["items"]}
    assert listed[ids[1]]["kind"] == "companion" and listed[ids[2]]["for_sale"] is False


def test_bad_edits_answer_422_and_change_nothing(app, client, factory):
    host = factory.user("host")
    event = factory.event(host=host, publish=False)
    foreign = factory.seat_ids(factory.event(host=host, publish=False).id)[0]
    ids = factory.seat_ids(event.id)
    before = seats_of(app, event.id)
    save = editor(client, host, event.id)
    other = before[ids[1]]
    for body in (
        {"seats": [{"id": ids[0], "kind": "throne"}]},
        {"seats": [{"id": ids[0], "kind": "general"}]},
        {"seats": [{"id": ids[0], "x": 3}]},
        {"seats": [{"id": ids[0]}]},
        {"seats": []},
        {"seats": [{"id": ids[0], "kind": "companion"}, {"id": foreign, "kind": "companion"}]},
        {"seats": [{"id": ids[0], "kind": "companion"}, {"id": ids[2], "x": other["x"], "y": other["y"]}]},
    ):
        r = save(body)
        assert r.status_code == 422, (body, r.get_json())
        assert r.get_json()["error"]["code"] in ("validation_failed", "unknown_seats")
        assert r.get_json()["error"]["details"]["fields"]
    assert seats_of(app, event.id) == before


def test_only_the_events_host_may_edit_and_only_while_it_is_a_draft(app, client, factory):
    host, other = factory.user("host"), factory.user("host")
    draft = factory.event(host=host, publish=False)
    published = factory.event(host=host)
    sign_in(client, other)
    csrf = csrf_of(client.get("/host/").get_data(as_text=True))
    headers = {"Accept": "application/json", "X-CSRFToken": csrf}
    for event, status in ((draft, 404), (published, 403)):
        seat = factory.seat_ids(event.id)[0]
        assert client.get(f"/host/events/{event.id}/seats").status_code == status
        r = client.post(
            f"/host/events/{event.id}/seats", json={"seats": [{"id": seat, "kind": "companion"}]}, headers=headers
        )
        assert r.status_code == status
        assert r.get_json()["error"]["code"] == {404: "not_found", 403: "forbidden"}[status]
    client.post("/logout", data={"csrf_token": csrf})
    seat = factory.seat_ids(published.id)[0]
    r = editor(client, host, published.id)({"seats": [{"id": seat, "for_sale": False}]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "event_published"
    assert all(s["kind"] == "standard" and s["for_sale"] for s in seats_of(app, published.id).values())


def test_a_save_without_the_csrf_token_is_refused(app, client, factory):
    host = factory.user("host")
    event = factory.event(host=host, publish=False)
    seat = factory.seat_ids(event.id)[0]
    r = editor(client, host, event.id)({"seats": [{"id": seat, "kind": "companion"}]}, token=None)
    assert r.status_code == 400
    assert seats_of(app, event.id)[seat]["kind"] == "standard"


def test_a_seat_off_sale_is_never_held_nor_counted(app, client, factory, api):
    host = factory.user("host")
    event = factory.event(
        host=host,
        publish=False,
        sections=[{"name": "Small", "price_cents": 1000, "rows": [{"label": "A", "seats": 4}]}],
    )
    ids = factory.seat_ids(event.id)
    assert editor(client, host, event.id)({"seats": [{"id": ids[0], "for_sale": False}]}).status_code == 200
    buyer = api.as_(factory.user())
    assert api.as_(host).post(f"/events/{event.id}/publish").status == 200

    refused = buyer.post(f"/events/{event.id}/holds", json={"seat_ids": [ids[0]]})
    assert refused.status == 409 and refused.body["error"]["details"]["unavailable_seat_ids"] == [ids[0]]
    assert buyer.get(f"/events/{event.id}").body["availability"] == {"total": 3, "available": 3, "held": 0, "booked": 0}
    best = buyer.post(f"/events/{event.id}/holds", json={"quantity": 3, "prefer": "best"})
    assert best.status == 201 and sorted(s["id"] for s in best.body["seats"]) == ids[1:]
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 409
    with app.app_context():
        assert availability.live_counts(event.id, utcnow()) == {"total": 3, "available": 0, "held": 3, "booked": 0}
        assert availability.counts(db.session, event.id, utcnow())["total"] == 3
        assert ids[0] not in {s["id"] for s in availability.statuses(db.session, event.id, utcnow())}
        held = db.session.scalar(text("SELECT hold_id FROM seats WHERE id = :s"), {"s": ids[0]})
    assert held is None
