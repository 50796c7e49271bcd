"""The dispatcher's batches: one RQ job for many messages while a queue is behind, and nothing lost or doubled.

Every test here runs against the real pipeline (dispatcher, Kafka, Redis, the SMTP sink); the batch jobs are
the ones the dispatcher made, read back from Redis.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

from rq.job import Job

from atomicseats.pipeline import jobs
from tests.pipeline.helpers import audit, checkout, hold, query, wait_final
from tests.services import wait_for

BUYERS = 8


def test_while_a_job_waits_the_next_bookings_and_emails_share_jobs_and_each_ends_confirmed_with_one_email(
    api, factory, own_workers, app, redis_client, mailbox
):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    users = [factory.user() for _ in range(BUYERS)]
    clients = [api.as_(u) for u in users]
    bookings: dict[int, dict] = {}

    def buy(i: int) -> None:
        bookings[i] = checkout(clients[i], hold(clients[i], event.id, seat_ids=[seats[i]])["id"])

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(BUYERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(bookings) == BUYERS

    with app.app_context():
        marks = wait_for(
            lambda: all(m := [jobs.dispatched_job(b["id"]) for b in bookings.values()]) and m,
            30,
            "every booking to be in a confirm job",
        )
        carried = {job_id: len(Job.fetch(job_id, connection=redis_client).args[0]) for job_id in set(marks)}
    assert Counter(marks) == carried  # each job carries exactly the bookings marked with its id
    assert len(carried) < BUYERS and max(carried.values()) > 1  # fewer jobs than bookings: some were batched

    own_workers.start_worker()
    for i, booking in bookings.items():
        assert wait_final(clients[i], booking["id"], pipeline=own_workers)["status"] == "confirmed"
    for user in users:
        [email] = mailbox.wait_for(user.email)
        assert "confirmed" in email["Subject"]
    email_jobs = query(
        app,
        "SELECT CAST(message_id AS text) AS m FROM outbox WHERE topic = 'notifications' AND payload->>'booking_id' "
        "= ANY(:ids)",
        ids=[b["id"] for b in bookings.values()],
    )
    with app.app_context():
        email_marks = {jobs.dispatched_job(row.m) for row in email_jobs}
    assert len(email_jobs) == BUYERS and None not in email_marks
    audit(app, event.id)


def test_a_redelivered_message_enqueues_nothing_new(api, factory, pipeline, app):
    user = factory.user()
    client = api.as_(user)
    event = factory.event()
    booking = checkout(client, hold(client, event.id, seat_ids=factory.seat_ids(event.id)[:1])["id"])
    assert wait_final(client, booking["id"], pipeline=pipeline)["status"] == "confirmed"
    [message] = query(
        app,
        "SELECT CAST(message_id AS text) AS m, payload FROM outbox WHERE topic = 'booking-requests' "
        "AND payload->>'booking_id' = :b",
        b=booking["id"],
    )
    with app.app_context():
        before = jobs.dispatched_job(booking["id"])
        assert jobs.enqueue_confirms([(message.payload, message.m), (message.payload, message.m)]) == 0
        assert jobs.dispatched_job(booking["id"]) == before


def test_an_email_that_fails_in_a_batch_goes_on_alone_with_retries_and_the_others_are_sent(
    factory, pipeline, app, mailbox, monkeypatch, redis_client
):
    monkeypatch.setitem(app.config, "EMAIL_RETRY_INTERVALS", "1,1")
    event = factory.event(name="Batch Night")
    good = [factory.user() for _ in range(2)]
    broken = factory.user()
    batch = [
        ({"kind": "waitlist_offer_expired", "user_id": good[0].id, "event_id": event.id}, f"test-{uuid.uuid4()}"),
        ({"kind": "no_such_kind", "user_id": broken.id, "event_id": event.id}, f"test-{uuid.uuid4()}"),
        ({"kind": "waitlist_offer_expired", "user_id": good[1].id, "event_id": event.id}, f"test-{uuid.uuid4()}"),
    ]
    with app.app_context():
        assert jobs.send_notifications(batch) == 2
    for user in good:
        [email] = mailbox.wait_for(user.email)
        assert "Batch Night" in email["Subject"]

    alone = f"notify-{batch[1][1]}-alone"
    assert Job.exists(alone, connection=redis_client)

    def parked() -> list:
        return query(app, "SELECT attempts, error FROM dead_letters WHERE message_id = :m", m=batch[1][1])

    [letter] = wait_for(parked, 60, "the failed email's own job to exhaust its retries (1 s, 1 s)")
    assert letter.attempts == 3 and "no_such_kind" in letter.error
    assert mailbox.to(broken.email) == []


def test_when_smtp_refuses_a_batch_each_email_goes_on_alone_and_is_sent_once_smtp_answers(
    factory, pipeline, app, mailbox, redis_client
):
    event = factory.event(name="Refused Night")
    users = [factory.user() for _ in range(2)]
    batch = [
        ({"kind": "waitlist_offer_expired", "user_id": u.id, "event_id": event.id}, f"test-{uuid.uuid4()}")
        for u in users
    ]
    mail_state = app.extensions["mail"]
    with app.app_context():
        mail_state.port, port = 1, mail_state.port  # an SMTP server that refuses connections, in this process only
        try:
            assert jobs.send_notifications(batch) == 0
        finally:
            mail_state.port = port
    for _, message_id in batch:
        assert Job.exists(f"notify-{message_id}-alone", connection=redis_client)
    for user in users:  # the pipeline's worker sends them, over its own (working) SMTP settings
        [email] = mailbox.wait_for(user.email)
        assert "Refused Night" in email["Subject"]
