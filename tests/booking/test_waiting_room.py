"""The waiting room's engine on real Redis and PostgreSQL, with an injected clock."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import text

from atomicseats import realtime
from atomicseats.booking import checkout, waiting_room
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.conftest import wipe_redis
from tests.seatmaps import user_page
from tests.services import wait_for

ARRIVALS = 2000


@pytest.fixture
def opens_at():
    return (utcnow() + timedelta(minutes=10)).replace(microsecond=0)


def _room(factory, opens_at, rate=60):
    return factory.event(waiting_room={"enabled": True, "opens_at": opens_at.isoformat(), "admit_per_minute": rate})


def _users(factory, n):
    return [factory.user() for _ in range(n)]


def _in_line(factory, event, count, now):
    """``count`` new accounts that join the queue in this order at ``now``."""
    users = _users(factory, count)
    for user in users:
        waiting_room.join(event.id, user.id, now=now)
    return users


def _spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rho of two lists without ties: Pearson's r of their ranks."""

    def ranks(values: list[float]) -> list[int]:
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0] * len(values)
        for rank, index in enumerate(order):
            out[index] = rank
        return out

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    d2 = sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_pre_queue_arrival_order_does_not_predict_position(app, ctx, factory, opens_at):
    """2,000 arrivals in the window: rank correlation of arrival and place near 0 (|rho| < 0.1; its standard
    deviation under a fair draw is 1/sqrt(1999) = 0.022, so 0.1 is 4.5 sigma: it does not flake)."""
    event = _room(factory, opens_at)
    arrived = opens_at - timedelta(minutes=5)
    user_ids = list(range(10_000_000, 10_000_000 + ARRIVALS))  # the engine needs ids, not accounts
    for i, user_id in enumerate(user_ids):
        state = waiting_room.join(event.id, user_id, ip=f"10.0.{i // 250}.{i % 250}", now=arrived)
        assert state.status == "waiting" and state.position is None
    after = opens_at + timedelta(seconds=1)
    places = [waiting_room.join(event.id, u, now=after).place for u in user_ids]
    assert sorted(places) == list(range(1, ARRIVALS + 1))
    rho = _spearman(list(range(ARRIVALS)), [float(p) for p in places])
    assert abs(rho) < 0.1, rho


def test_after_opening_later_arrivals_are_first_come_first_served(app, ctx, factory, opens_at):
    event = _room(factory, opens_at)
    _in_line(factory, event, 3, opens_at - timedelta(minutes=1))
    late = _users(factory, 5)
    positions = [
        waiting_room.join(event.id, u.id, now=opens_at + timedelta(seconds=i + 1)).position for i, u in enumerate(late)
    ]
    assert positions == [4, 5, 6, 7, 8]


def test_two_tabs_and_a_reload_share_one_place(app, ctx, factory, opens_at):
    event = _room(factory, opens_at)
    now = opens_at + timedelta(seconds=5)
    _in_line(factory, event, 2, now)
    me = factory.user()
    first = waiting_room.join(event.id, me.id, now=now)
    second = waiting_room.join(event.id, me.id, now=now + timedelta(seconds=1))
    assert first.ticket == second.ticket and first.place == second.place == 3
    assert waiting_room.event_of_ticket(first.ticket, me.id) == event.id


def test_per_ip_cap_refuses_the_next_account_from_that_address(ctx, factory, opens_at, engine_settings):
    engine_settings(waiting_room_max_per_ip=2)
    event = _room(factory, opens_at)
    now = opens_at + timedelta(seconds=1)
    a, b, c = _users(factory, 3)
    waiting_room.join(event.id, a.id, ip="203.0.113.9", now=now)
    waiting_room.join(event.id, b.id, ip="203.0.113.9", now=now)
    assert waiting_room.join(event.id, a.id, ip="203.0.113.9", now=now).place == 1  # the same account: fine
    with pytest.raises(waiting_room.QueueFull):
        waiting_room.join(event.id, c.id, ip="203.0.113.9", now=now)
    assert waiting_room.join(event.id, c.id, ip="198.51.100.1", now=now).place == 3


def test_admission_follows_the_line_at_the_rate_and_tokens_check_out(app, ctx, factory, opens_at):
    event = _room(factory, opens_at, rate=60)  # one a second; a burst of 5 s
    now = opens_at + timedelta(seconds=1)
    users = _in_line(factory, event, 10, now)
    room = waiting_room.room_for(event.id)
    first = waiting_room.admit(room, now)
    assert first.admitted == [users[0].id]
    second = waiting_room.admit(room, now + timedelta(seconds=3))
    assert second.admitted == [u.id for u in users[1:4]]
    assert waiting_room.join(event.id, users[4].id, now=now + timedelta(seconds=3)).position == 1
    state = waiting_room.join(event.id, users[0].id, now=now + timedelta(seconds=3))
    assert state.status == "admitted" and state.admission_token
    admission = waiting_room.check_admission(event.id, users[0].id, state.admission_token, now + timedelta(seconds=4))
    assert admission.place == 1


def test_an_unused_slot_lapses_and_the_next_moves_up(ctx, factory, opens_at, engine_settings):
    engine_settings(waiting_room_admission_seconds=30)
    event = _room(factory, opens_at, rate=1)  # one a minute: the second person gets in only by a lapse
    now = opens_at + timedelta(seconds=1)
    a, b, c = _in_line(factory, event, 3, now)
    room = waiting_room.room_for(event.id)
    assert waiting_room.admit(room, now).admitted == [a.id]
    token = waiting_room.join(event.id, a.id, now=now).admission_token
    assert waiting_room.admit(room, now + timedelta(seconds=20)).admitted == []
    lapsed = waiting_room.admit(room, now + timedelta(seconds=31))
    assert lapsed.lapsed == [a.id] and lapsed.admitted == [b.id]
    assert waiting_room.join(event.id, a.id, now=now + timedelta(seconds=31)).status == "expired"
    assert waiting_room.join(event.id, c.id, now=now + timedelta(seconds=31)).position == 1
    with pytest.raises(waiting_room.AdmissionRefused) as refused:
        waiting_room.check_admission(event.id, a.id, token, now + timedelta(seconds=32))
    assert refused.value.code == "admission_token_expired"


def test_redis_wiped_mid_queue_admits_nobody_twice(app, ctx, factory, opens_at, redis_client, settings):
    """The queue restarts: people rejoin at the back; an admission recorded in PostgreSQL comes back as it was."""
    event = _room(factory, opens_at, rate=60)
    now = opens_at + timedelta(seconds=1)
    a, b, c = _in_line(factory, event, 3, now)
    room = waiting_room.room_for(event.id)
    assert waiting_room.admit(room, now).admitted == [a.id]
    token = waiting_room.join(event.id, a.id, now=now).admission_token
    admission = waiting_room.check_admission(event.id, a.id, token, now)
    waiting_room.mark_used(admission, now)

    wipe_redis(redis_client, settings["REDIS_PREFIX"])

    later = now + timedelta(seconds=10)
    rejoined = [waiting_room.join(event.id, u.id, now=later) for u in (a, c, b)]
    assert [s.status for s in rejoined] == ["waiting"] * 3
    assert waiting_room.admit(room, later).admitted == []  # a's turn comes back as it was: used
    assert waiting_room.admit(room, later + timedelta(seconds=1)).admitted == [c.id]
    assert waiting_room.join(event.id, a.id, now=later).admission_used
    with pytest.raises(waiting_room.AdmissionRefused) as refused:
        waiting_room.check_admission(event.id, a.id, token, later)
    assert refused.value.code == "admission_token_used"
    rows = db.session.execute(
        text("SELECT user_id, count(*) FROM queue_admissions WHERE event_id = :e GROUP BY user_id"), {"e": event.id}
    ).all()
    db.session.rollback()
    assert sorted(rows) == sorted([(a.id, 1), (c.id, 1)])


def test_a_token_outlives_a_wipe_from_its_postgresql_record(app, ctx, factory, opens_at, redis_client, settings):
    event = _room(factory, opens_at)
    user = factory.user()
    now = opens_at + timedelta(seconds=1)
    waiting_room.join(event.id, user.id, now=now)
    waiting_room.admit(waiting_room.room_for(event.id), now)
    token = waiting_room.join(event.id, user.id, now=now).admission_token
    wipe_redis(redis_client, settings["REDIS_PREFIX"])
    assert waiting_room.check_admission(event.id, user.id, token, now).place == 1


def test_sold_out_tells_everyone_still_waiting(app, factory, api, opens_at):
    """Every place booked: the tick says sold out to everyone still in line and admits nobody more."""
    event = factory.event(
        seating="general",
        capacity=2,
        waiting_room={"enabled": True, "opens_at": opens_at.isoformat(), "admit_per_minute": 60},
    )
    buyer, waiting = factory.user(), factory.user()
    now = opens_at + timedelta(seconds=1)
    with app.app_context():
        waiting_room.join(event.id, buyer.id, now=now)
        waiting_room.join(event.id, waiting.id, now=now)
        room = waiting_room.room_for(event.id)
        waiting_room.admit(room, now)
        token = waiting_room.join(event.id, buyer.id, now=now).admission_token
    as_buyer = api.as_(buyer)
    hold = as_buyer.post(f"/events/{event.id}/holds", {"quantity": 2}, headers={"X-Admission-Token": token})
    assert hold.status == 201, hold.body
    booking = as_buyer.post("/bookings", {"hold_id": hold.body["id"], "payment": {"card_number": "4242424242424242"}})
    with app.app_context():
        assert checkout.confirm_booking(booking.body["id"]).status == "confirmed"
        result = waiting_room.admit(room, utcnow())
        assert result.sold_out and result.admitted == []
        assert waiting_room.join(event.id, waiting.id).status == "sold_out"


def test_redis_forgets_a_room_a_day_after_its_event_ends(app, ctx, factory, opens_at, redis_client, settings):
    event = _room(factory, opens_at)
    now = opens_at + timedelta(seconds=1)
    _in_line(factory, event, 3, now)
    room = waiting_room.room_for(event.id)
    waiting_room.admit(room, now)
    waiting_room.admit(room, now + timedelta(seconds=1))  # keys a tick created get their expiry from the next
    keys = list(redis_client.scan_iter(match=f"{settings['REDIS_PREFIX']}{{wr:{event.id}}}:*"))
    forget_at_ms = int((event.ends_at + timedelta(days=1)).timestamp() * 1000)
    assert {k.decode().rsplit(":", 1)[1] for k in keys} >= {"q", "meta", "adm", "admx"}
    assert all(redis_client.pexpiretime(k) == forget_at_ms for k in keys if not k.endswith(b":push")), keys


def test_the_draw_tells_each_person_their_own_place_and_nobody_else_hears_it(
    app, ctx, factory, opens_at, realtime_server, settings, engine_settings
):
    """Pages that joined before the opening learn their drawn place from a push to their own room, not by asking;
    another account's connection (or an anonymous one) hears nobody's place. Later ticks carry only the head."""
    engine_settings(waiting_room_push_seconds=0.1)  # the head-only push after the draw comes without a long wait
    event = _room(factory, opens_at, rate=1)  # the draw's tick admits one; the others wait with their place
    people = _in_line(factory, event, 3, opens_at - timedelta(minutes=5))
    outsider = factory.user()
    token = lambda user: realtime.make_token(settings["SECRET_KEY"], user.id)  # noqa: E731
    with (
        user_page(realtime_server, token(people[0])) as (_, heard_0),
        user_page(realtime_server, token(people[1])) as (_, heard_1),
        user_page(realtime_server, token(people[1])) as (_, heard_1_tab),  # a second tab of the same account
        user_page(realtime_server, token(people[2])) as (_, heard_2),
        user_page(realtime_server, token(outsider)) as (outsider_page, heard_outsider),
        user_page(realtime_server, None) as (anonymous_page, heard_anonymous),
    ):
        now = opens_at + timedelta(seconds=1)
        drawn = waiting_room.admit(waiting_room.room_for(event.id), now)
        assert len(drawn.admitted) == 1
        places = {u.id: waiting_room.join(event.id, u.id, now=now).place for u in people}
        heard = {people[0].id: [heard_0], people[1].id: [heard_1, heard_1_tab], people[2].id: [heard_2]}
        for user_id, pages in heard.items():
            for page in pages:
                if user_id in drawn.admitted:
                    wait_for(lambda page=page: page, 10, "queue_admitted for the admitted one")
                    assert [name for name, _ in page] == ["queue_admitted"]
                    continue
                wait_for(lambda page=page: page, 10, f"user {user_id}'s place")
                assert page == [
                    (
                        "queue_progress",
                        {
                            "event_id": event.id,
                            "head": 1,
                            "waiting": 2,
                            "admit_per_minute": 1,
                            "sold_out": False,
                            "sent_at_ms": int(now.timestamp() * 1000),
                            "place": places[user_id],
                        },
                    )
                ]
        # The batch went out in one piece before any of it arrived; a round trip on each bystander's connection
        # brings back anything queued for it before.
        assert outsider_page.call("leave_event", {"event_id": event.id}, timeout=10) == {"ok": False}
        assert anonymous_page.call("leave_event", {"event_id": event.id}, timeout=10) == {"ok": False}
        assert heard_outsider == [] and heard_anonymous == []

        waiting = [u.id for u in people if u.id not in drawn.admitted]
        later = heard[waiting[0]][0]
        room = waiting_room.room_for(event.id)
        # ticks after the draw (each admits nobody: one a minute) push the head once the interval has passed
        wait_for(lambda: waiting_room.admit(room, now + timedelta(seconds=3)) and len(later) >= 2, 10, "a later push")
        assert later[1][0] == "queue_progress" and "place" not in later[1][1]


def test_the_head_of_line_push_reaches_everyone_in_line_and_nobody_else(
    app, ctx, factory, opens_at, realtime_server, settings, engine_settings
):
    """After the draw, each push of the head of the line is one message for the whole line: every page of every
    person still in line hears it (each tab), and nobody else does: not the person already let out of line, not
    another account, not an anonymous connection."""
    engine_settings(waiting_room_push_seconds=0.1)
    event = _room(factory, opens_at, rate=1)  # the draw's tick admits one; the others wait
    people = _in_line(factory, event, 5, opens_at - timedelta(minutes=5))
    outsider = factory.user()
    token = lambda user: realtime.make_token(settings["SECRET_KEY"], user.id)  # noqa: E731
    with contextlib.ExitStack() as pages:
        heard = {u.id: [pages.enter_context(user_page(realtime_server, token(u)))[1]] for u in people}
        heard[people[3].id].append(pages.enter_context(user_page(realtime_server, token(people[3])))[1])
        outsider_page, heard_outsider = pages.enter_context(user_page(realtime_server, token(outsider)))
        anonymous_page, heard_anonymous = pages.enter_context(user_page(realtime_server, None))
        now = opens_at + timedelta(seconds=1)
        room = waiting_room.room_for(event.id)
        (admitted,) = waiting_room.admit(room, now).admitted
        in_line = [u.id for u in people if u.id != admitted]
        for user_id in in_line:
            for page in heard[user_id]:
                wait_for(lambda page=page: page, 10, f"user {user_id}'s place")
        later = now + timedelta(seconds=3)
        pages_in_line = [page for user_id in in_line for page in heard[user_id]]
        # ticks after the draw admit nobody (one a minute); one pushes the head once the interval has passed
        wait_for(
            lambda: waiting_room.admit(room, later).admitted == [] and all(len(page) >= 2 for page in pages_in_line),
            10,
            "the head push to everyone in line",
        )
        head_push = (
            "queue_progress",
            {
                "event_id": event.id,
                "head": 1,
                "waiting": 4,
                "admit_per_minute": 1,
                "sold_out": False,
                "sent_at_ms": int(later.timestamp() * 1000),
            },
        )
        for page in pages_in_line:
            assert page[1] == head_push
        # Everything sent to the others was published before the push; a round trip on each of their connections
        # brings back whatever was queued for it.
        for page in (outsider_page, anonymous_page):
            assert page.call("leave_event", {"event_id": event.id}, timeout=10) == {"ok": False}
        assert heard_outsider == [] and heard_anonymous == []
        assert [name for name, _ in heard[admitted][0]] == ["queue_admitted"]
