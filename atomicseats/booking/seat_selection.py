"""Best available: choose adjacent seats in one row of one section, without stranding single seats.

A pure function over a snapshot of the seat map, so it is tested without a database; the chosen
seats are then claimed like any picked by hand, and a lost race simply chooses again.

Wheelchair spaces and their companion seats are kept for those who ask for them: an ordinary request never
takes one, and an ``accessible`` request takes only them, a wheelchair space together with its companion.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Literal, NamedTuple

Preference = Literal["best", "cheapest"]
ACCESSIBLE_KINDS = frozenset({"accessible", "companion"})


class SeatState(NamedTuple):
    """A seat as best available weighs it: a tuple, as each best-available request makes one per seat of the event."""

    id: int
    section_position: int
    price_cents: int
    row_y: int
    number: int
    x: int
    kind: str
    free: bool


def choose_block(
    seats: Iterable[SeatState], quantity: int, prefer: Preference = "best", accessible: bool = False
) -> list[int] | None:
    """Seat ids of the best block of ``quantity`` adjacent free seats, or None if there is none.

    ``accessible``: the block is made of wheelchair spaces and companion seats only, has at least one
    wheelchair space, and (when it has more than one seat) every wheelchair space in it sits beside a
    companion seat of the block, so that a wheelchair user is never seated apart from their companion.

    Ranking, most important first: leaves no single free seat stranded beside taken ones (when some
    block manages that); uses as few wheelchair spaces as it can (they are the scarcest seats); the
    section (host's order for ``best``, price for ``cheapest``); the row (front first); closeness to
    the row's centre.
    """
    ordered = sorted(seats, key=lambda s: (s.section_position, s.row_y, s.number))
    best_key: tuple | None = None
    best_ids: list[int] | None = None
    for (_, row_y), row_iter in groupby(ordered, key=lambda s: (s.section_position, s.row_y)):
        row = list(row_iter)
        # The smallest key any block of this row could have: if the best so far is no larger, skip the row. In a
        # map with seats left, the first good row ends the search; weighing every block of every row made best
        # available cost more than the rest of a hold request.
        if best_key is not None and best_key <= (False, 0, min(_section_rank(s, prefer) for s in row), 0, row_y):
            continue
        centre = (row[0].x + row[-1].x) / 2
        for run in _free_runs(row, accessible):
            length = len(run)
            for start in range(length - quantity + 1):
                window = run[start : start + quantity]
                if accessible and not _wheelchair_with_companion(window):
                    continue
                stranded = (start == 1) + (length - quantity - start == 1)
                first = window[0]
                section_rank = _section_rank(first, prefer)
                middle = (window[0].x + window[-1].x) / 2
                restricted = sum(s.kind == "restricted_view" for s in window)
                wheelchairs = sum(s.kind == "accessible" for s in window)
                key = (
                    stranded > 0,
                    wheelchairs,
                    section_rank,
                    restricted,
                    first.row_y,
                    abs(middle - centre),
                    first.number,
                )
                if best_key is None or key < best_key:
                    best_key, best_ids = key, [s.id for s in window]
    return best_ids


def _section_rank(seat: SeatState, prefer: Preference) -> tuple[int, int]:
    if prefer == "cheapest":
        return (seat.price_cents, seat.section_position)
    return (seat.section_position, -seat.price_cents)


def _free_runs(row: list[SeatState], accessible: bool) -> Iterable[list[SeatState]]:
    """Maximal runs of consecutive seat numbers that are free and of an eligible kind."""
    run: list[SeatState] = []
    for seat in row:
        eligible = seat.free and ((seat.kind in ACCESSIBLE_KINDS) == accessible)
        if eligible and run and seat.number == run[-1].number + 1:
            run.append(seat)
            continue
        if run:
            yield run
        run = [seat] if eligible else []
    if run:
        yield run


def _wheelchair_with_companion(window: list[SeatState]) -> bool:
    """At least one wheelchair space, and each one beside a companion seat of ``window`` (if it has two seats)."""
    kinds = [s.kind for s in window]
    if "accessible" not in kinds:
        return False
    if len(kinds) == 1:
        return True
    beside = [kinds[i - 1 : i] + kinds[i + 1 : i + 2] for i in range(len(kinds))]
    return all(kind != "accessible" or "companion" in near for kind, near in zip(kinds, beside, strict=True))
