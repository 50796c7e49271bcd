"""The pipeline survives its services failing: Kafka stopped during checkouts, Redis wiped mid-flight."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from atomicseats.booking import gate
from atomicseats.booking.payments import CARD_SLOW
from atomicseats.models.base import utcnow
from tests.conftest import wipe_redis
from tests.factories import ApiClient, reserved_sections
from tests.pipeline.helpers import audit, checkout, hold, query, wait_final
from tests.services import wait_for

OUTAGE_SECONDS = 30


def test_fifty_checkouts_while_kafka_is_down_are_all_accepted_and_all_finish_once_it_is_back(
    api, factory, pipeline, kafka, app, mailbox
):
    event = factory.event(sections=reserved_sections(rows=5, seats=10))
    seats = factory.seat_ids(event.id)
    buyers = [factory.user() for _ in range(50)]
    clients = [api.as_(u) for u in buyers]
    holds = [hold(c, event.id, seat_ids=[seat]) for c, seat in zip(clients, seats, strict=True)]

    def buy(i: int) -> tuple[int, dict]:
        own = ApiClient(app.test_client(), factory, clients[i].token)  # one test client per thread
        r = own.post("/bookings", json={"hold_id": holds[i]["id"], "payment": {"card_number": "4242424242424242"}})
        return r.status, r.body

    kafka.stop()
    stopped_at = time.monotonic()
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(buy, range(50)))
        assert [status for status, _ in answers] == [202] * 50
        # while the broker is down, nothing goes around it and nothing is lost: all pending, all in the outbox
        remaining = OUTAGE_SECONDS - (time.monotonic() - stopped_at)
        if remaining > 0:
            time.sleep(remaining)  # the outage itself (its length is the scenario, not a synchronisation)
        pending = query(
            app, "SELECT count(*) AS n FROM bookings WHERE event_id = :e AND status = 'pending'", e=event.id
        )
        assert pending[0].n == 50
    finally:
        kafka.start()

    ids = [body["id"] for _, body in answers]
    wait_for(
        lambda: (
            query(app, "SELECT count(*) AS n FROM bookings WHERE event_id = :e AND status = 'confirmed'", e=event.id)[
                0
            ].n
            == 50
        ),
        120,
        "all 50 bookings to be confirmed after Kafka came back",
        interval=0.5,
    )
    rows = query(app, "SELECT id, status FROM bookings WHERE event_id = :e", e=event.id)
    assert sorted(str(r.id) for r in rows) == sorted(ids)  # none lost, none doubled
    # The last confirmations' email rows were written with them and go out on the relay's next round.
    wait_for(
        lambda: query(app, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")[0].n == 0,
        30,
        "every outbox row to be relayed",
    )
    audit(app, event.id)
    for user in buyers[:5]:
        assert len(mailbox.wait_for(user.email, timeout=60)) == 1


def test_after_redis_is_wiped_reconciliation_restores_gate_and_availability_and_no_booking_is_lost(
    api, factory, pipeline, app, redis_client, settings
):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    buyer = api.as_(factory.user())
    confirmed = checkout(buyer, hold(buyer, event.id, seat_ids=seats[:2])["id"])
    assert wait_final(buyer, confirmed["id"], pipeline=pipeline)["status"] == "confirmed"
    holder = api.as_(factory.user())
    hold(holder, event.id, seat_ids=seats[2:5])
    slow = api.as_(factory.user())
    in_flight = checkout(slow, hold(slow, event.id, seat_ids=seats[5:6])["id"], card=CARD_SLOW)

    assert wipe_redis(redis_client, settings["REDIS_PREFIX"]) > 0  # gate, queues, everything of this run

    def gate_right() -> bool:
        with app.app_context():
            counts = gate.counts(event.id, int(utcnow().timestamp() * 1000))
        return counts.capacity == len(seats) and counts.held + counts.booked == 6

    wait_for(gate_right, 30, "the scheduler to rebuild the wiped gate")
    assert wait_final(slow, in_flight["id"], timeout=60, pipeline=pipeline)["status"] == "confirmed"
    availability = api.get(f"/events/{event.id}").body["availability"]
    assert availability == {"total": 20, "available": 14, "held": 3, "booked": 3}
    taken = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": [seats[0], seats[3]]})
    assert taken.status == 409
    assert sorted(taken.body["error"]["details"]["unavailable_seat_ids"]) == [seats[0], seats[3]]
    statuses = query(app, "SELECT status FROM bookings WHERE event_id = :e", e=event.id)
    assert sorted(r.status for r in statuses) == ["confirmed", "confirmed"]
    audit(app, event.id)
