"""Waitlist offers in FIFO order through the pipeline, the bookings API, cancellation, dead letters."""

from __future__ import annotations

import uuid
from datetime import timedelta

from atomicseats.booking import hold_endings
from atomicseats.models.base import utcnow
from atomicseats.pipeline import jobs
from tests.pipeline.conftest import body_text
from tests.pipeline.helpers import audit, checkout, hold, query, wait_final
from tests.services import wait_for


def _offer(client) -> dict | None:
    items = client.get("/waitlist").body["items"]
    return items[0]["offer"] if items else None


def test_waitlist_offers_go_out_in_fifo_order_and_an_unused_offer_expires_and_moves_on(
    api, factory, pipeline, app, mailbox
):
    event = factory.event(seating="general", capacity=2, price_cents=3000, hold_seconds=30, name="Waitlist Gig")
    first, second = api.as_(factory.user()), api.as_(factory.user())
    bookings = []
    for client in (first, second):
        b = checkout(client, hold(client, event.id, quantity=1)["id"])
        assert wait_final(client, b["id"], pipeline=pipeline)["status"] == "confirmed"
        bookings.append(b)
    waiting_users = [factory.user() for _ in range(3)]
    waiting = [api.as_(u) for u in waiting_users]
    sold_out = waiting[0].post(f"/events/{event.id}/holds", json={"quantity": 1})
    assert sold_out.status == 409
    for position, client in enumerate(waiting, start=1):
        r = client.post(f"/events/{event.id}/waitlist", json={"quantity": 1})
        assert r.status == 201 and r.body["position"] == position
    assert waiting[0].post(f"/events/{event.id}/waitlist", json={"quantity": 1}).status == 409

    assert first.post(f"/bookings/{bookings[0]['id']}/cancel").status == 200
    offer_1 = wait_for(lambda: _offer(waiting[0]), 30, "an offer to the first in line")
    assert _offer(waiting[1]) is None and _offer(waiting[2]) is None
    assert second.post(f"/bookings/{bookings[1]['id']}/cancel").status == 200
    offer_2 = wait_for(lambda: _offer(waiting[1]), 30, "an offer to the second in line")
    assert _offer(waiting[2]) is None

    # the second person takes their offer; the first lets theirs run out
    taken = checkout(waiting[1], offer_2["hold_id"])
    assert wait_final(waiting[1], taken["id"], pipeline=pipeline)["status"] == "confirmed"
    with app.app_context():
        assert hold_endings.expire_due(now=utcnow() + timedelta(seconds=31)) == 1  # time passes for the unused offer
    offer_3 = wait_for(lambda: _offer(waiting[2]), 30, "the lapsed offer to move to the third in line")
    assert offer_3["hold_id"] != offer_1["hold_id"]
    statuses = [c.get("/waitlist").body["items"][0]["status"] for c in waiting]
    assert statuses == ["expired", "fulfilled", "offered"]

    subjects = {u.email: [m["Subject"] for m in mailbox.wait_for(u.email, 1)] for u in waiting_users}
    first_mail = mailbox.wait_for(waiting_users[0].email, 2)
    assert "waitlist offer" in first_mail[0]["Subject"] and "Waitlist Gig" in first_mail[0]["Subject"]
    assert "expired" in first_mail[1]["Subject"] and "passed to the next person" in body_text(first_mail[1])
    assert "until" in body_text(first_mail[0])
    assert "waitlist offer" in subjects[waiting_users[2].email][0]
    audit(app, event.id)


def test_bookings_are_visible_to_owner_host_and_admin_listed_with_filters_and_pages_and_cancelled_once(
    api, factory, pipeline, app, mailbox
):
    host = factory.user("host")
    event = factory.event(host=host)
    other_event = factory.event(host=host)
    seats, other_seats = factory.seat_ids(event.id), factory.seat_ids(other_event.id)
    user = factory.user()
    client = api.as_(user)
    made = []
    for i in range(3):
        b = checkout(client, hold(client, event.id, seat_ids=[seats[i]])["id"])
        made.append(wait_final(client, b["id"], pipeline=pipeline))
    declined = checkout(client, hold(client, other_event.id, seat_ids=[other_seats[0]])["id"], card="4000000000000002")
    wait_final(client, declined["id"], pipeline=pipeline)

    one = made[0]["id"]
    assert api.as_(factory.user()).get(f"/bookings/{one}").status == 404
    assert api.as_(host).get(f"/bookings/{one}").status == 200
    assert api.as_(factory.user("admin")).get(f"/bookings/{one}").status == 200
    assert client.get(f"/bookings/{uuid.uuid4()}").status == 404

    seen, cursor = [], None
    while True:
        r = client.get("/bookings", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status == 200
        seen += [b["id"] for b in r.body["items"]]
        cursor = r.body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted([b["id"] for b in made] + [declined["id"]]) and len(seen) == 4
    only_failed = client.get("/bookings", query_string={"status": "failed"}).body["items"]
    assert [b["id"] for b in only_failed] == [declined["id"]]
    assert only_failed[0]["failure_reason"] == "payment_declined"
    by_event = client.get("/bookings", query_string={"event_id": event.id}).body["items"]
    assert len(by_event) == 3
    assert client.get("/bookings", query_string={"status": "nope"}).status == 422

    assert api.as_(factory.user()).post(f"/bookings/{one}/cancel").status == 404
    cancelled = client.post(f"/bookings/{one}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    again = client.post(f"/bookings/{one}/cancel")
    assert again.status == 409 and again.body["error"]["code"] == "already_cancelled"
    seat_map = {s["id"]: s["status"] for s in api.get(f"/events/{event.id}/seats").body["items"]}
    assert seat_map[seats[0]] == "available"
    mails = mailbox.wait_for(user.email, 5)
    assert any("cancelled" in m["Subject"] and made[0]["reference"] in m["Subject"] for m in mails)
    audit(app, event.id)


def test_cancelling_an_event_notifies_its_buyers(api, factory, pipeline, mailbox):
    host = factory.user("host")
    event = factory.event(host=host, name="Doomed Show")
    seats = factory.seat_ids(event.id)
    user = factory.user()
    client = api.as_(user)
    b = checkout(client, hold(client, event.id, seat_ids=seats[:1])["id"])
    wait_final(client, b["id"], pipeline=pipeline)
    assert api.as_(host).delete(f"/events/{event.id}").status in (200, 204)
    mails = mailbox.wait_for(user.email, 2)
    assert "Cancelled: Doomed Show" in mails[-1]["Subject"]
    assert client.get(f"/bookings/{b['id']}").body["status"] == "cancelled"


def test_an_email_that_cannot_be_sent_is_parked_and_an_admin_can_replay_it(api, factory, pipeline, app, mailbox):
    user = factory.user()
    event = factory.event(name="Retry Fest")
    payload = {"kind": "waitlist_offer_expired", "user_id": user.id, "event_id": event.id}
    mail_state = app.extensions["mail"]
    with app.app_context():
        mail_state.port, port = 1, mail_state.port  # an SMTP server that refuses connections
        try:
            assert jobs.send_notification(payload, f"test-{uuid.uuid4()}") is False  # last attempt: parked
        finally:
            mail_state.port = port
    admin = api.as_(factory.user("admin"))
    assert api.as_(user).get("/admin/dead-letters").status == 403
    letters = admin.get("/admin/dead-letters").body["items"]
    assert len(letters) == 1 and letters[0]["payload"] == payload and "Error" in letters[0]["error"]

    r = admin.post(f"/admin/dead-letters/{letters[0]['id']}/replay")
    assert r.status == 202
    [mail] = mailbox.wait_for(user.email)
    assert "Retry Fest" in mail["Subject"]
    assert admin.post(f"/admin/dead-letters/{letters[0]['id']}/replay").status == 409
    assert admin.get("/admin/dead-letters").body["items"] == []
    assert query(app, "SELECT replayed_at IS NOT NULL AS done FROM dead_letters")[0].done


def test_a_failing_email_job_is_retried_by_rq_with_backoff_then_parked(api, factory, pipeline, app, monkeypatch):
    monkeypatch.setitem(app.config, "EMAIL_RETRY_INTERVALS", "1,1")  # the enqueuer sets the retry policy
    user = factory.user()
    event = factory.event()
    payload = {"kind": "no_such_kind", "user_id": user.id, "event_id": event.id}  # every attempt raises
    message_id = f"test-{uuid.uuid4()}"
    with app.app_context():
        assert jobs.enqueue_notification(payload, message_id)
        assert not jobs.enqueue_notification(payload, message_id)  # the same message again: nothing new

    def parked() -> list:
        return query(app, "SELECT message_id, attempts, error FROM dead_letters WHERE message_id = :m", m=message_id)

    [letter] = wait_for(parked, 60, "the email job to exhaust its retries (intervals 1 s, 1 s)")
    assert letter.attempts == 3 and "no_such_kind" in letter.error
    admin = api.as_(factory.user("admin"))
    assert [d["message_id"] for d in admin.get("/admin/dead-letters").body["items"]] == [message_id]
