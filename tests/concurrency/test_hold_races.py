"""Many clients racing for the same seats through the real web server; PostgreSQL audited afterwards."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

from sqlalchemy import text

from atomicseats import realtime
from atomicseats.booking import gate
from atomicseats.extensions import db
from tests.concurrency.conftest import double_holds, race, stray_claims, three_counts
from tests.conftest import seat_change, wipe_redis
from tests.factories import LiveApi, reserved_sections
from tests.services import wait_for


def test_control_naive_check_then_set_double_books_without_the_guard(app, factory):
    """Proves the race is real here: read-then-write without a condition lets several buyers "win" one seat."""
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    users = [factory.user() for _ in range(8)]
    barrier = threading.Barrier(len(users))
    winners = []

    def naive_claim(user_id: int) -> None:
        with app.app_context():
            free = db.session.scalar(text("SELECT hold_id IS NULL FROM seats WHERE id = :s"), {"s": seat})
            barrier.wait(timeout=30)  # everyone has read "free" before anyone writes
            if free:
                db.session.execute(text("UPDATE seats SET hold_id = NULL WHERE id = :s"), {"s": seat})
                db.session.commit()
                winners.append(user_id)
            db.session.remove()

    threads = [threading.Thread(target=naive_claim, args=(u.id,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(winners) > 1


def test_100_clients_racing_for_the_same_4_seats_exactly_one_wins(app, factory, clients):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:4]
    racers = clients(100)
    answers = race([lambda c=c: c.post(f"/events/{event.id}/holds", json={"seat_ids": seats}) for c in racers])
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1 and statuses.count(409) == 99, statuses
    assert all(a.body["error"]["code"] == "seats_unavailable" for a in answers if a.status == 409)
    winner = next(a.body for a in answers if a.status == 201)
    with app.app_context():
        rows = db.session.execute(
            text("SELECT id, hold_id FROM seats WHERE event_id = :e AND hold_id IS NOT NULL ORDER BY id"),
            {"e": event.id},
        ).all()
        holds = db.session.scalar(text("SELECT count(*) FROM holds"))
    assert [r.id for r in rows] == seats
    assert {str(r.hold_id) for r in rows} == {winner["id"]}
    assert holds == 1
    assert double_holds(app) == [] and stray_claims(app) == []


def test_with_redis_wiped_postgresql_alone_still_lets_only_one_client_win(
    app, factory, clients, redis_client, settings
):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:3]
    first = clients(1)[0]
    assert first.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:1]}).status == 201
    racers = clients(40)
    answers = race(
        [lambda c=c: c.post(f"/events/{event.id}/holds", json={"seat_ids": seats}) for c in racers],
        before_start=lambda: wipe_redis(redis_client, settings["REDIS_PREFIX"]),
    )
    # seat 0 is still held in PostgreSQL: nobody may get it, even though Redis forgot the claim
    # (a racer may also be told of seats another racer claimed in Redis a moment before PostgreSQL refused it)
    assert {a.status for a in answers} == {409}
    assert all(seats[0] in a.body["error"]["details"]["unavailable_seat_ids"] for a in answers)
    answers = race([lambda c=c: c.post(f"/events/{event.id}/holds", json={"seat_ids": seats[1:]}) for c in racers])
    assert sorted(a.status for a in answers).count(201) == 1
    assert double_holds(app) == [] and stray_claims(app) == []


def test_300_clients_on_overlapping_seats_then_releases_and_expiry_keep_every_count_true(
    app, factory, clients, scheduler
):
    host = factory.user("host")
    event = factory.event(
        host=host, hold_seconds=30, max_per_order=6, sections=reserved_sections(sections=2, rows=5, seats=50)
    )
    seat_ids = factory.seat_ids(event.id)
    assert len(seat_ids) == 500
    rng = random.Random(7)
    racers = clients(300)
    wanted = [rng.sample(seat_ids[:200], rng.randint(1, 6)) for _ in racers]  # dense overlap
    violations: list = []
    stop = threading.Event()

    def auditor() -> None:
        while not stop.is_set():
            violations.extend(double_holds(app) + stray_claims(app))
            stop.wait(0.05)

    watcher = threading.Thread(target=auditor)
    watcher.start()
    try:
        answers = race(
            [
                lambda c=c, w=w: c.post(f"/events/{event.id}/holds", json={"seat_ids": w})
                for c, w in zip(racers, wanted, strict=True)
            ]
        )
        won = [(c, a.body) for c, a in zip(racers, answers, strict=True) if a.status == 201]
        assert {a.status for a in answers} <= {201, 409}
        claimed = [s["id"] for _, body in won for s in body["seats"]]
        assert len(claimed) == len(set(claimed))
        api_view, redis_view, pg = three_counts(app, racers[0], event.id)
        assert api_view == redis_view == pg and pg["held"] == len(claimed)

        # a third of the winners let go while the losers try again for what is freed
        releasing = won[: len(won) // 3]
        losers = [(c, w) for c, w, a in zip(racers, wanted, answers, strict=True) if a.status == 409]
        answers2 = race(
            [lambda c=c, b=b: c.delete(f"/holds/{b['id']}") for c, b in releasing]
            + [lambda c=c, w=w: c.post(f"/events/{event.id}/holds", json={"seat_ids": w}) for c, w in losers]
        )
        assert all(a.status == 204 for a in answers2[: len(releasing)])
        assert {a.status for a in answers2[len(releasing) :]} <= {201, 409}
        api_view, redis_view, pg = three_counts(app, racers[0], event.id)
        assert api_view == redis_view == pg

        # the rest run out: with no request arriving, every seat comes back
        wait_for(lambda: three_counts(app, racers[0], event.id)[2]["held"] == 0, 45, "all holds to expire")
        wait_for(
            lambda: _no_live_holds(app),
            5,
            "the scheduler to mark every hold expired",
        )
        api_view, redis_view, pg = three_counts(app, racers[0], event.id)
        assert api_view == redis_view == pg == {"total": 500, "held": 0, "booked": 0, "available": 500}
    finally:
        stop.set()
        watcher.join(10)
    assert violations == []


def _no_live_holds(app) -> bool:
    with app.app_context():
        n = db.session.scalar(text("SELECT count(*) FROM holds WHERE status = 'active'"))
        db.session.remove()
        return n == 0


def test_general_admission_500_concurrent_requests_never_hold_more_than_capacity(app, factory, clients):
    event = factory.event(seating="general", capacity=1000, price_cents=1500)
    rng = random.Random(11)
    racers = clients(500)
    quantities = [rng.randint(1, 4) for _ in racers]
    assert sum(quantities) > 1000
    answers = race(
        [
            lambda c=c, q=q: c.post(f"/events/{event.id}/holds", json={"quantity": q})
            for c, q in zip(racers, quantities, strict=True)
        ]
    )
    assert {a.status for a in answers} <= {201, 409}
    granted = sum(a.body["quantity"] for a in answers if a.status == 201)
    api_view, redis_view, pg = three_counts(app, racers[0], event.id)
    assert pg["held"] == granted <= 1000
    assert granted >= 997  # refusals only once (almost) nothing is left
    assert api_view == redis_view == pg
    assert double_holds(app) == [] and stray_claims(app) == []


def test_an_expired_hold_frees_its_seats_within_a_second_with_no_request_arriving(
    app, factory, live_server, scheduler, redis_client, settings
):
    event = factory.event(hold_seconds=30)
    seats = factory.seat_ids(event.id)[:2]
    client = LiveApi(live_server, factory.token(factory.user()))
    pubsub = redis_client.pubsub()
    pubsub.subscribe(realtime.seats_channel(settings["REDIS_PREFIX"]))
    try:
        wait_for(lambda: pubsub.get_message(timeout=0.1), 5, "the pub/sub subscription")
        hold = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats})
        assert hold.status == 201
        expires_at = datetime.fromisoformat(hold.body["expires_at"]).timestamp()
        freed_at: list[float] = []

        def freed() -> bool:
            data = seat_change(pubsub.get_message(timeout=0.2))
            if (
                data is not None
                and data["event_id"] == event.id
                and all(s["status"] == "available" for s in data["seats"])
                and sorted(s["id"] for s in data["seats"]) == seats
            ):
                freed_at.append(time.time())
                return True
            return False

        wait_for(freed, 45, "the seat_status event announcing the expired seats", interval=0)
    finally:
        pubsub.close()
    assert freed_at[0] - expires_at < 1.0
    statuses = {s["id"]: s["status"] for s in client.get(f"/events/{event.id}/seats").body["items"]}
    assert statuses[seats[0]] == statuses[seats[1]] == "available"
    with app.app_context():
        assert gate.counts(event.id, int(time.time() * 1000)).held == 0
    assert client.get(f"/holds/{hold.body['id']}").status == 410


def test_another_users_hold_id_is_404_over_http(factory, clients):
    event = factory.event()
    owner, stranger = clients(2)
    hold_id = owner.post(f"/events/{event.id}/holds", json={"quantity": 1}).body["id"]
    assert stranger.get(f"/holds/{hold_id}").status == 404
    assert stranger.delete(f"/holds/{hold_id}").status == 404
    assert owner.get(f"/holds/{hold_id}").status == 200
