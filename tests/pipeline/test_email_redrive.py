"""An email whose job was lost after its Kafka offset was committed (a wiped Redis) is still sent, once.

Found by ``bench/chaos.py``: restarting Redis mid-sale dropped queued email jobs, and nothing re-drove them.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from atomicseats.extensions import db
from tests.pipeline.conftest import REDRIVE_AFTER_SECONDS
from tests.pipeline.helpers import checkout, hold, wait_final


def test_a_published_email_that_never_reached_a_worker_is_sent_once_from_postgresql(
    api, factory, pipeline, mailbox, app
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
        db.session.execute(
            text(
                "INSERT INTO outbox (topic, key, payload, sent_at, attempts) "
                "SELECT topic, key, payload, now() - interval '1 hour', 1 FROM outbox "
                "WHERE topic = 'notifications' AND payload->>'booking_id' = :b"
            ),
            {"b": booking["id"]},
        )
        db.session.commit()
        db.session.remove()

    resent = mailbox.wait_for(user.email, count=2, timeout=30)
    assert all(done["reference"] in m["Subject"] for m in resent)
    time.sleep(2 * REDRIVE_AFTER_SECONDS)
    assert len(mailbox.to(user.email)) == 2
