"""An email whose job was lost after its Kafka offset was committed (a wiped Redis) is still sent, once.

Found by ``bench/chaos.py``: restarting Redis mid-sale dropped queued email jobs, and nothing re-drove them.
"""

from __future__ import annotations

import os

from rq import Queue
from sqlalchemy import text

from atomicseats.emails import EMAIL_CONSUMER
from atomicseats.extensions import db
from tests.pipeline.conftest import REDRIVE_AFTER_SECONDS
from tests.pipeline.helpers import checkout, hold, wait_final
from tests.services import wait_for

# How long the scheduler gets to re-drive the lost email and a worker to send it (a few re-drive periods).
REDRIVE_WAIT_SECONDS = float(os.environ.get("EMAIL_REDRIVE_WAIT_SECONDS", 3 * REDRIVE_AFTER_SECONDS))


def test_a_published_email_that_never_reached_a_worker_is_sent_once_from_postgresql(
    api, factory, pipeline, mailbox, app, redis_client
):
    event = factory.event()
    user = factory.user()
    client = api.as_(user)
    booking = checkout(client, hold(client, event.id, seat_ids=factory.seat_ids(event.id)[:1])["id"])
    done = wait_final(client, booking["id"], pipeline=pipeline)
    assert done["status"] == "confirmed"
    mailbox.wait_for(user.email, count=1)

    # The same notification again as a message the relay published long ago that no worker ever ran.
    with app.app_context():
        message_id = db.session.execute(
            text(
                "INSERT INTO outbox (topic, key, payload, sent_at, attempts) "
                "SELECT topic, key, payload, now() - interval '1 hour', 1 FROM outbox "
                "WHERE topic = 'notifications' AND payload->>'booking_id' = :b "
                "RETURNING CAST(message_id AS text)"
            ),
            {"b": booking["id"]},
        ).scalar_one()
        db.session.commit()
        db.session.remove()

    resent = mailbox.wait_for(user.email, count=2, timeout=REDRIVE_WAIT_SECONDS)
    assert all(done["reference"] in m["Subject"] for m in resent)

    # Once the message is recorded as sent, no re-drive picks it up again; let every job already queued run.
    wait_for(lambda: _recorded_as_sent(app, message_id), REDRIVE_WAIT_SECONDS, f"email {message_id} recorded as sent")
    notifications = Queue(app.config["REDIS_PREFIX"] + "notifications", connection=redis_client)
    wait_for(lambda: _idle(notifications), REDRIVE_WAIT_SECONDS, "the notifications queue to run every job")
    assert len(mailbox.to(user.email)) == 2


def _recorded_as_sent(app, message_id: str) -> bool:
    with app.app_context():
        try:
            return bool(
                db.session.scalar(
                    text("SELECT 1 FROM processed_messages WHERE consumer = :c AND message_id = :m"),
                    {"c": EMAIL_CONSUMER, "m": message_id},
                )
            )
        finally:
            db.session.remove()


def _idle(queue: Queue) -> bool:
    """Nothing queued, running or waiting for a retry."""
    return queue.count == 0 and queue.started_job_registry.count == 0 and queue.scheduled_job_registry.count == 0
