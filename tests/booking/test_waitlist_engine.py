"""The waitlist allocator called directly: preferences an offer respects, and the order rule with all-or-nothing.

SPEC: the first entry that *fits* gets an offer; an all-or-nothing group larger than what is free is passed
over (keeping its place), and a smaller group behind it is served. Decision 0017 extends "fits" to preferences.
"""

from __future__ import annotations

from sqlalchemy import text

from atomicseats.booking import hold_endings, holds, waitlist
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.seat_selection import SeatState
from atomicseats.booking.waitlist_seats import MapSeat, Wish, choose_seats, offered_quantity, open_rows
from atomicseats.extensions import db
from atomicseats.models import User
from tests.factories import reserved_sections


def hold(event_id: int, user: User, **request):
    return holds.create_hold(event_id, db.session.merge(user), HoldRequest(**request)).obj


def join(event_id: int, user: User, **wanted) -> str:
    return waitlist.join(event_id, db.session.merge(user), waitlist.JoinRequest(**wanted)).body["id"]


def entries(event_id: int) -> dict[str, tuple[str, list[int]]]:
    """Each entry's status and the seats of its open offer."""
    rows = db.session.execute(
        text(
            "SELECT w.id, w.status, array_remove(array_agg(hs.seat_id ORDER BY hs.seat_id), NULL) AS seats "
            "FROM waitlist_entries w LEFT JOIN holds h ON h.waitlist_entry_id = w.id AND h.status = 'active' "
            "LEFT JOIN hold_seats hs ON hs.hold_id = h.id WHERE w.event_id = :e GROUP BY w.id, w.status"
        ),
        {"e": event_id},
    ).all()
    db.session.rollback()
    return {str(r.id): (r.status, list(r.seats)) for r in rows}


def release(hold_id, user: User) -> None:
    hold_endings.release_hold(hold_id, db.session.merge(user))


def test_an_all_or_nothing_group_larger_than_what_is_free_is_passed_over_and_keeps_its_place(factory, ctx):
    event = factory.event(seating="general", capacity=5)
    first_holder, second_holder = factory.user(), factory.user()
    three = hold(event.id, first_holder, quantity=3)
    hold(event.id, second_holder, quantity=2)
    four = join(event.id, factory.user(), quantity=4)
    two = join(event.id, factory.user(), quantity=2)
    some_of_three = join(event.id, factory.user(), quantity=3, accept_partial=True)

    release(three.id, first_holder)
    offers = waitlist.allocate(event.id)

    assert [o.quantity for o in offers] == [2, 1]
    state = entries(event.id)
    assert state[four] == ("waiting", [])
    assert state[two][0] == "offered" and len(state[two][1]) == 2
    assert state[some_of_three][0] == "offered" and len(state[some_of_three][1]) == 1
    position = db.session.scalar(
        text("SELECT count(*) FROM waitlist_entries WHERE event_id = :e AND status IN ('waiting', 'offered')"),
        {"e": event.id},
    )
    assert position == 3  # the passed-over group is still first in line


def test_offers_on_a_reserved_event_respect_sections_price_and_seats_together(factory, ctx):
    event = factory.event(sections=reserved_sections(sections=2, rows=1, seats=4))  # 4500 and 3500 cents
    seats = db.session.execute(
        text(
            "SELECT s.id, s.section_id, s.number FROM seats s JOIN sections sec ON sec.id = s.section_id "
            "WHERE s.event_id = :e ORDER BY sec.position, s.number"
        ),
        {"e": event.id},
    ).all()
    db.session.rollback()
    front, back = seats[0].section_id, seats[-1].section_id
    holder = factory.user()
    everything = hold(event.id, holder, seat_ids=[s.id for s in seats])
    back_only = join(event.id, factory.user(), quantity=2, section_ids=[back])
    cheap = join(event.id, factory.user(), quantity=2, max_price_cents=3500)
    three_together = join(event.id, factory.user(), quantity=3, together=True)
    two_apart = join(event.id, factory.user(), quantity=2)
    one = join(event.id, factory.user(), quantity=1)

    release(everything.id, holder)
    waitlist.allocate(event.id)

    state = entries(event.id)
    section_of = {s.id: s.section_id for s in seats}
    number_of = {s.id: s.number for s in seats}
    assert state[back_only][0] == "offered" and {section_of[s] for s in state[back_only][1]} == {back}
    assert state[cheap][0] == "offered" and {section_of[s] for s in state[cheap][1]} == {back}
    together = sorted(number_of[s] for s in state[three_together][1])
    assert {section_of[s] for s in state[three_together][1]} == {front}
    assert together == list(range(together[0], together[0] + 3))
    assert state[two_apart] == ("waiting", [])  # one seat left: an all-or-nothing pair does not fit
    assert state[one][0] == "offered" and len(state[one][1]) == 1


def seat_map(free: dict[tuple[int, int, int], bool], kinds: dict[int, str] | None = None) -> list[MapSeat]:
    """Seats keyed (section, row, number); section 1 costs 4500, section 2 costs 3500."""
    out = []
    for seat_id, ((section, row, number), is_free) in enumerate(sorted(free.items()), start=1):
        kind = (kinds or {}).get(seat_id, "standard")
        state = SeatState(seat_id, section, 4500 if section == 1 else 3500, row, number, number * 10, kind, is_free)
        out.append(MapSeat(section, state))
    return out


def test_a_block_together_comes_first_and_loose_seats_only_without_together():
    # row 1 of section 1: seats 1 and 3 free, 2 taken; row 2: seats 1-2 free
    seats = seat_map({(1, 1, 1): True, (1, 1, 2): False, (1, 1, 3): True, (1, 2, 1): True, (1, 2, 2): True})
    assert choose_seats(seats, Wish(2)) == [4, 5]  # the adjacent pair, although a row further back
    assert choose_seats(seats, Wish(3, together=True)) is None
    assert choose_seats(seats, Wish(3)) == [1, 3, 4]  # front first when no block of three exists
    assert choose_seats(seats, Wish(3, together=True, accept_partial=True)) == [4, 5]  # the largest block
    assert choose_seats(seats, Wish(6)) is None
    assert choose_seats(seats, Wish(6, accept_partial=True)) == [1, 3, 4, 5]
    assert choose_seats(seats, Wish(2), taken={4}) == [1, 3]


def test_sections_price_and_accessible_places_limit_what_is_offered():
    seats = seat_map({(1, 1, 1): True, (1, 1, 2): True, (2, 1, 1): True, (2, 1, 2): True, (2, 1, 3): True})
    back_pair = choose_seats(seats, Wish(2, section_ids=frozenset({2})))
    assert back_pair is not None and set(back_pair) <= {3, 4, 5}
    assert set(choose_seats(seats, Wish(2, max_price_cents=3500))) <= {3, 4, 5}
    assert choose_seats(seats, Wish(1, max_price_cents=3499)) is None
    assert choose_seats(seats, Wish(4, section_ids=frozenset({2}))) is None
    wheelchair = seat_map({(1, 1, 1): True, (1, 1, 2): True}, kinds={1: "accessible", 2: "companion"})
    assert choose_seats(wheelchair, Wish(1)) is None


def test_only_rows_with_a_free_seat_are_ranked_and_they_keep_their_taken_seats():
    seats = seat_map({(1, 1, 1): False, (1, 1, 2): False, (1, 2, 1): False, (1, 2, 2): True})
    assert [s.state.id for s in open_rows(seats)] == [3, 4]


def test_general_admission_offers_all_part_or_nothing():
    assert offered_quantity(Wish(3), free=5, price_cents=2000) == 3
    assert offered_quantity(Wish(3), free=2, price_cents=2000) == 0
    assert offered_quantity(Wish(3, accept_partial=True), free=2, price_cents=2000) == 2
    assert offered_quantity(Wish(1, max_price_cents=1999), free=5, price_cents=2000) == 0
