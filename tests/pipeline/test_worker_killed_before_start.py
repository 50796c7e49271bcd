"""A job a worker took off its queue and died before starting still ends in a confirmed booking and its email.

Found by ``bench/chaos.py``: a worker SIGKILLed right after RQ handed it a job (BLPOP when it serves both
queues, BLMOVE into ``<queue>:intermediate`` when it serves one) left that job "queued" in no queue, and the
re-drive, trusting that status, waited for it forever: a confirmed booking never got its email.
"""

from __future__ import annotations

import pytest
from rq.job import Job
from rq.queue import Queue

from tests.pipeline.conftest import REDRIVE_AFTER_SECONDS
from tests.pipeline.helpers import checkout, hold, query, wait_final
from tests.services import wait_for

STALLING_WORKER = "tests.pipeline.stalling_worker.StallingWorker"


@pytest.mark.parametrize(
    ("stall_on", "one_queue"),
    [("notify-", False), ("notify-", True), ("confirm-", False)],
    ids=["email-popped", "email-in-intermediate-list", "confirm-popped"],
)
def test_a_job_whose_worker_was_killed_before_starting_it_still_ends_in_one_email(
    stall_on, one_queue, api, factory, own_workers, redis_client, mailbox, app
):
    bookings, notifications = own_workers.queues
    if one_queue:  # a worker serving one queue dequeues with BLMOVE into the queue's intermediate list
        stalling = own_workers.start_worker(notifications, worker_class=STALLING_WORKER, STALL_JOB_PREFIX=stall_on)
        own_workers.start_worker(bookings)
    else:
        stalling = own_workers.start_worker(worker_class=STALLING_WORKER, STALL_JOB_PREFIX=stall_on)
    event = factory.event()
    user = factory.user()
    client = api.as_(user)
    booking = checkout(client, hold(client, event.id, seat_ids=factory.seat_ids(event.id)[:1])["id"])

    stalled = own_workers.env["REDIS_PREFIX"] + "stalled"
    job_id = wait_for(lambda: redis_client.get(stalled), 60, f"a worker to take a {stall_on} job").decode()
    own_workers.kill_worker(redis_client, stalling)

    # What the dead worker left: a job RQ calls "queued" that no worker will ever pop.
    job = Job.fetch(job_id, connection=redis_client)
    rq_queue = Queue(job.origin, connection=redis_client)
    assert job.get_status() == "queued"
    assert rq_queue.get_job_position(job_id) is None
    assert (job_id in rq_queue.intermediate_queue.get_job_ids()) is one_queue

    own_workers.start_worker()
    deadline = 3 * REDRIVE_AFTER_SECONDS + 30
    done = wait_final(client, booking["id"], timeout=deadline, pipeline=own_workers)
    assert done["status"] == "confirmed"
    emails = mailbox.wait_for(user.email, timeout=deadline)
    assert len(emails) == 1
    assert done["reference"] in emails[0]["Subject"]
    # recorded as sent in PostgreSQL: the stranded job, should RQ ever run it, sends nothing more
    sent = query(
        app,
        "SELECT count(*) AS n FROM processed_messages p JOIN outbox o ON p.message_id = CAST(o.message_id AS text) "
        "WHERE p.consumer = 'email' AND o.payload->>'booking_id' = :b",
        b=booking["id"],
    )
    assert sent[0].n == 1
