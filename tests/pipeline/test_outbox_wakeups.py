"""The relay sleeps until a commit that wrote the outbox wakes it (migration 0013's trigger, LISTEN/NOTIFY)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine

from atomicseats.booking import outbox
from atomicseats.booking.tx import transaction
from atomicseats.extensions import db
from atomicseats.pipeline.relay import Wakeups
from tests.services import free_port

NEVER_SECONDS = 60.0  # a wait that ends only if it is woken: the fallback would take this long


def test_a_commit_that_writes_the_outbox_wakes_a_sleeping_relay(app) -> None:
    with app.app_context():
        wakeups = Wakeups(db.engine, threading.Event())
        try:
            assert wakeups.wait(NEVER_SECONDS), "a new LISTEN connection first looks at once"
            woken: list[bool] = []
            waiter = threading.Thread(target=lambda: woken.append(wakeups.wait(NEVER_SECONDS)))
            waiter.start()
            with transaction() as session:  # an email about nobody: a running dispatcher's mailer sends nothing
                outbox.enqueue(
                    session, outbox.NOTIFICATIONS, 0, {"kind": "booking_confirmed", "user_id": 0, "event_id": 0}
                )
            waiter.join(NEVER_SECONDS + 5)
            assert woken == [True]
        finally:
            wakeups.close()


def test_without_postgresql_a_wait_lasts_its_timeout_and_reports_no_wake_up() -> None:
    nowhere = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none")
    wakeups = Wakeups(nowhere, threading.Event())
    assert wakeups.wait(0.1) is False
    assert wakeups.connection is None
