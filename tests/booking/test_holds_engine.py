"""The hold engine called directly, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from atomicseats import dbapi, realtime
from atomicseats.booking import availability, claims, gate, hold_endings, holds
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.idempotency import IdempotencyRequest, Replay
from atomicseats.exceptions import Conflict, Expired, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow
from tests.conftest import seat_change, wipe_redis
from tests.services import wait_for


def hold(event_id: int, user: User, now=None, **request):
    return holds.create_hold(event_id, db.session.merge(user), HoldRequest(**request), now=now).obj


def test_a_hold_past_its_expiry_counts_as_free_before_any_sweeper_runs(factory, ctx):
    event = factory.event(hold_seconds=60)
    seats = factory.seat_ids(event.id)
    now = utcnow()
    hold(event.id, factory.user(), now=now, seat_ids=seats[:2])
    assert availability.counts(db.session, event.id, now)["held"] == 2
    later = now + timedelta(seconds=61)
    assert availability.counts(db.session, event.id, later)["held"] == 0
    # someone else can take the seats at that time, with no sweeper in between
    taken = hold(event.id, factory.user(), now=later, seat_ids=seats[:2])
    assert [s["id"] for s in taken.seats] == seats[:2]


def test_one_live_hold_per_user_per_event_but_an_expired_one_does_not_block(factory, ctx):
    event = factory.event(hold_seconds=60)
    seats = factory.seat_ids(event.id)
    user = factory.user()
    now = utcnow()
    first = hold(event.id, user, now=now, seat_ids=seats[:1])
    with pytest.raises(Conflict) as exc:
        hold(event.id, user, now=now, seat_ids=seats[1:2])
    assert exc.value.code == "hold_exists" and exc.value.details["hold_id"] == str(first.id)
    second = hold(event.id, user, now=now + timedelta(seconds=61), seat_ids=seats[1:2])
    status = db.session.scalar(text("SELECT status FROM holds WHERE id = :h"), {"h": first.id})
    assert status == "expired" and second.id != first.id


def test_max_seats_per_order_is_enforced(factory, ctx):
    event = factory.event(max_per_order=2)
    with pytest.raises(Invalid) as exc:
        hold(event.id, factory.user(), seat_ids=factory.seat_ids(event.id)[:3])
    assert exc.value.code == "too_many_seats"


def test_drafts_and_cancelled_events_cannot_be_held(factory, ctx):
    draft = factory.event(publish=False)
    with pytest.raises(NotFound):
        hold(draft.id, factory.user(), seat_ids=factory.seat_ids(draft.id)[:1])


def test_release_frees_the_seats_at_once_and_a_second_release_is_410(factory, ctx):
    event = factory.event()
    user = factory.user()
    seats = factory.seat_ids(event.id)
    h = hold(event.id, user, seat_ids=seats[:2])
    hold_endings.release_hold(h.id, db.session.merge(user))
    assert availability.counts(db.session, event.id, utcnow())["held"] == 0
    assert gate.counts(event.id, int(utcnow().timestamp() * 1000)).held == 0
    with pytest.raises(Expired):
        hold_endings.release_hold(h.id, db.session.merge(user))


def test_general_admission_allow_partial_holds_what_is_left_and_reports_the_shortfall(factory, ctx):
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    hold(event.id, factory.user(), quantity=3)
    with pytest.raises(Conflict) as exc:
        hold(event.id, factory.user(), quantity=4)
    assert exc.value.code == "seats_unavailable" and exc.value.details["available"] == 2
    partial = hold(event.id, factory.user(), quantity=4, allow_partial=True)
    assert partial.quantity == 2 and partial.shortfall == 2
    assert sum(s["price_cents"] for s in partial.seats) == 3000


def test_best_available_holds_adjacent_seats_in_one_row(factory, ctx):
    event = factory.event()
    h = hold(event.id, factory.user(), quantity=3)
    labels = [s["label"] for s in h.seats]
    rows = {label.split("-")[0] for label in labels}
    numbers = sorted(int(label.split("-")[1]) for label in labels)
    assert len(rows) == 1 and numbers == list(range(numbers[0], numbers[0] + 3))


def test_expire_due_ends_holds_whose_time_is_up_and_clears_their_seats(factory, ctx):
    event = factory.event(hold_seconds=60)
    seats = factory.seat_ids(event.id)
    now = utcnow()
    h = hold(event.id, factory.user(), now=now, seat_ids=seats[:2])
    assert hold_endings.expire_due(now) == 0
    assert hold_endings.expire_due(now + timedelta(seconds=60)) == 1
    row = db.session.execute(text("SELECT status FROM holds WHERE id = :h"), {"h": h.id}).one()
    assert row.status == "expired"
    assert db.session.scalar(text("SELECT count(*) FROM seats WHERE hold_id IS NOT NULL")) == 0


def test_a_live_update_carries_postgresqls_counts_while_a_wiped_gate_is_not_rebuilt_yet(
    factory, ctx, redis_client, settings
):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    wipe_redis(redis_client, settings["REDIS_PREFIX"])  # a Redis flush; the scheduler has not rebuilt the gate
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(realtime.seats_channel(settings["REDIS_PREFIX"]))
    try:
        hold(event.id, factory.user(), seat_ids=seats[:2])
        updates: list[dict] = []

        def seat_status_arrived() -> bool:
            data = seat_change(pubsub.get_message(timeout=0.2))
            if data is not None:
                updates.append(data)
            return bool(updates)

        wait_for(seat_status_arrived, 10, "the hold's seat_status update", interval=0)
    finally:
        pubsub.close()
    assert not gate.is_built(event.id)
    assert updates[0]["availability"] == availability.counts(db.session, event.id, utcnow())
    assert updates[0]["availability"]["held"] == 2


def test_best_available_with_no_adjacent_seats_free_reads_the_seat_map_once(factory, ctx, monkeypatch):
    """A chosen block that another hold took first is chosen again; no block at all in PostgreSQL's snapshot is
    answered at once (each choice reads every seat of the event)."""
    event = factory.event(sections=[{"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 5}]}])
    seats = factory.seat_ids(event.id)
    for seat in seats[0::2]:
        hold(event.id, factory.user(), seat_ids=[seat])
    reads = []
    choose = claims._best_available
    monkeypatch.setattr(claims, "_best_available", lambda *a, **kw: reads.append(a) or choose(*a, **kw))
    with pytest.raises(Conflict) as exc:
        hold(event.id, factory.user(), quantity=2)  # seats 2 and 4 are free, but not together
    assert exc.value.code == "seats_unavailable" and len(reads) == 1


def test_the_gate_refuses_a_keyed_request_only_after_a_repeat_of_its_key_was_answered(factory, ctx, monkeypatch):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    holder, other = db.session.merge(factory.user()), db.session.merge(factory.user())

    def request(user: User, key: str, seat_ids: list[int]):
        idempotency = IdempotencyRequest.build(user.id, key, "POST /events/holds", {"seat_ids": seat_ids})
        return holds.create_hold(event.id, user, HoldRequest(seat_ids=seat_ids), idempotency=idempotency)

    first = request(holder, "first", seats[:2])
    again = request(holder, "first", seats[:2])  # the gate has these seats taken, by the very hold to replay
    assert isinstance(again, Replay) and again.status == 201 and again.body == first.body

    statements = []
    run = dbapi.first
    monkeypatch.setattr(holds.dbapi, "first", lambda s, st, p: statements.append(st.name) or run(s, st, p))
    with pytest.raises(Conflict) as exc:
        request(other, "second", seats[1:3])
    assert exc.value.code == "seats_unavailable" and exc.value.details["unavailable_seat_ids"] == [seats[1]]
    assert "hold_event_and_insert" not in statements  # refused by Redis: no hold row inserted and rolled back
    assert request(other, "second", seats[2:4]).obj.seats  # a refused key stores nothing: it may be used again
