"""Checkout through the real pipeline: outbox -> Kafka -> dispatcher -> RQ worker -> PostgreSQL -> email."""

from __future__ import annotations

import json
import threading
import uuid

from kafka import KafkaProducer
from rq import Queue

from atomicseats.booking.payments import CARD_APPROVED, CARD_DECLINED, CARD_SLOW, CARD_TIMEOUT
from atomicseats.pipeline import jobs
from tests.pipeline.conftest import REDRIVE_AFTER_SECONDS, SLOW_CARD_SECONDS, body_html, body_text
from tests.pipeline.helpers import audit, checkout, hold, query, wait_final
from tests.services import wait_for


def _buyer(api, factory):
    user = factory.user()
    return user, api.as_(user)


def test_booking_goes_from_202_to_confirmed_and_the_email_names_reference_and_seats(
    api, factory, pipeline, mailbox, app
):
    event = factory.event(name="Confirmed Concert")
    seats = factory.seat_ids(event.id)
    user, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:2])
    booking = checkout(client, held["id"])

    done = wait_final(client, booking["id"], pipeline=pipeline)

    assert done["status"] == "confirmed"
    assert done["reference"].startswith("AS-") and len(done["reference"]) == 9
    assert [s["id"] for s in done["seats"]] == seats[:2]
    assert done["total_cents"] == held["total_cents"] == 2 * 4500
    assert "failure_reason" not in done
    seat_map = {s["id"]: s["status"] for s in api.get(f"/events/{event.id}/seats").body["items"]}
    assert seat_map[seats[0]] == seat_map[seats[1]] == "booked"
    assert query(app, "SELECT status FROM holds WHERE id = :h", h=held["id"])[0].status == "converted"
    [message] = mailbox.wait_for(user.email)
    assert done["reference"] in message["Subject"]
    text_body, html_body = body_text(message), body_html(message)
    for body in (text_body, html_body):
        assert done["reference"] in body and "Confirmed Concert" in body and "A-1" in body and "A-2" in body
    assert "90.00" in text_body
    audit(app, event.id)


def test_a_payment_that_timed_out_fails_the_booking_and_frees_the_seats(api, factory, pipeline, mailbox, app):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    user, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:3])
    booking = checkout(client, held["id"], card=CARD_TIMEOUT)

    done = wait_final(client, booking["id"], pipeline=pipeline)

    assert done["status"] == "failed" and done["failure_reason"] == "payment_timeout"
    seat_map = {s["id"]: s["status"] for s in api.get(f"/events/{event.id}/seats").body["items"]}
    assert all(seat_map[s] == "available" for s in seats[:3])
    other = api.as_(factory.user())
    assert other.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:3]}).status == 201
    [message] = mailbox.wait_for(user.email)
    assert "did not go through" in message["Subject"]
    audit(app, event.id)


def test_a_declined_card_keeps_the_seats_held_says_so_by_email_and_another_card_books_them(
    api, factory, pipeline, mailbox, app
):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    user, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:2])

    declined = wait_final(client, checkout(client, held["id"], card=CARD_DECLINED)["id"], pipeline=pipeline)

    assert declined["status"] == "failed" and declined["failure_reason"] == "payment_declined"
    again = client.get(f"/holds/{held['id']}").body
    assert again["status"] == "active" and again["expires_at"] == held["expires_at"]
    seat_map = {s["id"]: s["status"] for s in api.get(f"/events/{event.id}/seats").body["items"]}
    assert seat_map[seats[0]] == seat_map[seats[1]] == "held"
    [message] = mailbox.wait_for(user.email)
    assert "did not go through" in message["Subject"]
    for body in (body_text(message), body_html(message)):
        assert "still held" in body and f"/checkout/{held['id']}" in body

    paid = wait_final(client, checkout(client, held["id"], headers={"Idempotency-Key": "second-card"})["id"])

    assert paid["status"] == "confirmed" and [s["id"] for s in paid["seats"]] == seats[:2]
    audit(app, event.id)


def test_a_hold_that_outlives_its_checkout_grace_fails_with_hold_expired(api, factory, pipeline, app, engine_settings):
    event = factory.event(hold_seconds=30)
    seats = factory.seat_ids(event.id)
    _, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:1])
    engine_settings(checkout_grace_seconds=0)  # the grace runs out before any worker can act
    booking = checkout(client, held["id"])

    done = wait_final(client, booking["id"], pipeline=pipeline)

    assert done["status"] == "failed" and done["failure_reason"] == "hold_expired"
    assert query(app, "SELECT hold_id, booking_id FROM seats WHERE id = :s", s=seats[0])[0] == (None, None)
    audit(app, event.id)


def test_checkout_refuses_someone_elses_hold_an_expired_hold_and_a_second_checkout(api, factory, pipeline):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    _, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:1])
    stranger = api.as_(factory.user())
    r = stranger.post("/bookings", json={"hold_id": held["id"], "payment": {"card_number": CARD_APPROVED}})
    assert r.status == 404
    bad_card = client.post("/bookings", json={"hold_id": held["id"], "payment": {"card_number": "1234"}})
    assert bad_card.status == 422 and "payment.card_number" in bad_card.body["error"]["details"]["fields"]
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = checkout(client, held["id"], headers=key)
    replay = client.post(
        "/bookings", json={"hold_id": held["id"], "payment": {"card_number": CARD_APPROVED}}, headers=key
    )
    assert replay.status == 202 and replay.body == first
    again = client.post("/bookings", json={"hold_id": held["id"], "payment": {"card_number": CARD_APPROVED}})
    assert again.status == 409 and again.body["error"]["code"] == "hold_in_checkout"
    wait_final(client, first["id"], pipeline=pipeline)


def test_the_same_kafka_message_delivered_twice_leaves_one_booking(api, factory, pipeline, mailbox, app, settings):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    user, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:2])
    booking = checkout(client, held["id"])
    wait_final(client, booking["id"], pipeline=pipeline)
    [original] = query(
        app,
        "SELECT message_id, key, payload FROM outbox WHERE topic = 'booking-requests' AND payload->>'booking_id' = :b",
        b=booking["id"],
    )
    producer = KafkaProducer(bootstrap_servers=settings["KAFKA_BOOTSTRAP_SERVERS"])
    topic = settings["KAFKA_TOPIC_PREFIX"] + "booking-requests"
    for _ in range(2):  # the same message again, twice, as a redelivering broker would
        producer.send(
            topic,
            key=original.key.encode(),
            value=json.dumps(original.payload).encode(),
            headers=[("message_id", str(original.message_id).encode())],
        )
    producer.flush()
    producer.close()
    # A later booking on the same event (same key, same partition) is dispatched after the duplicates.
    _, marker_client = _buyer(api, factory)
    marker = checkout(marker_client, hold(marker_client, event.id, seat_ids=seats[5:6])["id"])
    assert wait_final(marker_client, marker["id"], pipeline=pipeline)["status"] == "confirmed"

    rows = query(app, "SELECT status FROM bookings WHERE hold_id = :h", h=held["id"])
    assert [r.status for r in rows] == ["confirmed"]
    notes = query(
        app,
        "SELECT count(*) AS n FROM outbox WHERE topic = 'notifications' AND payload->>'booking_id' = :b",
        b=booking["id"],
    )
    assert notes[0].n == 1
    assert len(mailbox.wait_for(user.email)) == 1
    audit(app, event.id)


def test_the_same_rq_job_run_twice_and_concurrently_leaves_one_booking(api, factory, pipeline, app, redis_client):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    _, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:4])
    booking = checkout(client, held["id"])
    outcomes: list[str] = []

    def run_job() -> None:
        with app.app_context():
            outcomes.append(jobs.confirm_booking(booking["id"]))

    threads = [threading.Thread(target=run_job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue = Queue(app.config["REDIS_PREFIX"] + "bookings", connection=redis_client)
    replayed = queue.enqueue(jobs.confirm_booking, booking["id"], job_id=f"confirm-{booking['id']}-again")
    wait_for(lambda: replayed.get_status(refresh=True) == "finished", 30, "the replayed job")

    assert outcomes == ["confirmed"] * 3
    assert replayed.return_value() == "confirmed"
    assert wait_final(client, booking["id"])["status"] == "confirmed"
    assert len(query(app, "SELECT 1 FROM booking_seats WHERE booking_id = :b", b=booking["id"])) == 4
    notes = query(
        app,
        "SELECT count(*) AS n FROM outbox WHERE topic = 'notifications' AND payload->>'booking_id' = :b",
        b=booking["id"],
    )
    assert notes[0].n == 1
    audit(app, event.id)


def test_a_worker_killed_mid_confirm_ends_confirmed_exactly_once_after_restart(
    api, factory, pipeline, app, redis_client, mailbox
):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    user, client = _buyer(api, factory)
    held = hold(client, event.id, seat_ids=seats[:2])
    booking = checkout(client, held["id"], card=CARD_SLOW)
    job_key = f"rq:job:confirm-{booking['id']}"
    wait_for(lambda: redis_client.hget(job_key, "status") == b"started", 30, "the confirm job to start")

    pipeline.kill_worker(redis_client)  # SIGKILL to the worker's process group, mid-payment, before its commit
    assert query(app, "SELECT status FROM bookings WHERE id = :b", b=booking["id"])[0].status == "pending"
    pipeline.start_worker()

    done = wait_final(
        client, booking["id"], timeout=REDRIVE_AFTER_SECONDS + 3 * SLOW_CARD_SECONDS + 20, pipeline=pipeline
    )
    assert done["status"] == "confirmed"
    assert len(query(app, "SELECT 1 FROM booking_seats WHERE booking_id = :b", b=booking["id"])) == 2
    assert len(mailbox.wait_for(user.email)) == 1
    audit(app, event.id)
