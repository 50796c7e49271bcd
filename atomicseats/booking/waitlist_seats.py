"""Which places a waitlist entry is offered: its preferences applied to a snapshot of what is free.

A pure function over the seat map, like best available itself (``seat_selection.choose_block``), so the
rules are tested without a database; the allocator then claims the chosen seats like any hold. The rules
and how they meet the SPEC's "first entry that fits" are in docs/decisions/0017-waitlist-preferences.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from atomicseats.booking.seat_selection import ACCESSIBLE_KINDS, SeatState, choose_block


@dataclass(frozen=True)
class Wish:
    """What a waitlist entry asked for; equal wishes fit or miss alike, so a run looks at each miss once."""

    quantity: int
    accept_partial: bool = False
    section_ids: frozenset[int] | None = None
    together: bool = False
    max_price_cents: int | None = None


@dataclass(frozen=True)
class MapSeat:
    """A seat of the snapshot: the state best available ranks, and the section its preferences name."""

    section_id: int
    state: SeatState


def open_rows(seats: Iterable[MapSeat]) -> list[MapSeat]:
    """The seats of rows with a free seat: all that any offer can come from, so each entry ranks only these.

    Whole rows, taken seats included, so that best available still sees each row's centre and its gaps.
    """
    seats = list(seats)
    rows = {(s.state.section_position, s.state.row_y) for s in seats if s.state.free}
    return [s for s in seats if (s.state.section_position, s.state.row_y) in rows]


def offered_quantity(wish: Wish, free: int, price_cents: int) -> int:
    """General admission: how many places to offer, 0 when the entry does not fit (it keeps its place)."""
    if wish.max_price_cents is not None and price_cents > wish.max_price_cents:
        return 0
    if free >= wish.quantity:
        return wish.quantity
    return free if wish.accept_partial else 0


def choose_seats(seats: Sequence[MapSeat], wish: Wish, taken: Collection[int] = ()) -> list[int] | None:
    """Seat ids to offer for ``wish`` from the free seats not in ``taken``, or None when it does not fit.

    Only seats in the wished sections and within the price count. A block of adjacent seats, chosen by
    best available, comes first. Without ``together`` the entry then takes its quantity in separate seats
    (front first); with it, a smaller block only if it accepts part. Wheelchair and companion places are
    never offered by best available, and not to loose seats either: the waitlist cannot ask for them.
    """
    usable = {
        s.state.id
        for s in seats
        if s.state.free and s.state.kind not in ACCESSIBLE_KINDS and s.state.id not in taken and _wanted(s, wish)
    }
    if not usable or (len(usable) < wish.quantity and not wish.accept_partial):
        return None
    # best available ranks whole rows (their centre, their gaps), but only rows where a usable seat is
    rows = {(s.state.section_position, s.state.row_y) for s in seats if s.state.id in usable}
    eligible = [
        s.state._replace(free=s.state.id in usable) for s in seats if (s.state.section_position, s.state.row_y) in rows
    ]
    block = choose_block(eligible, wish.quantity)
    if block is not None:
        return block
    if not wish.together:
        loose = _loose(eligible)[: wish.quantity]
        return loose if len(loose) == wish.quantity or wish.accept_partial else None
    if wish.accept_partial:
        for size in range(min(wish.quantity - 1, len(usable)), 0, -1):
            block = choose_block(eligible, size)
            if block is not None:
                return block
    return None


def _wanted(seat: MapSeat, wish: Wish) -> bool:
    if wish.section_ids is not None and seat.section_id not in wish.section_ids:
        return False
    return wish.max_price_cents is None or seat.state.price_cents <= wish.max_price_cents


def _loose(seats: Iterable[SeatState]) -> list[int]:
    """Free seats in the host's section order, front row first."""
    return [s.id for s in sorted((s for s in seats if s.free), key=lambda s: (s.section_position, s.row_y, s.number))]
