"""Best available, on hand-made seat maps (a pure function: no services needed)."""

from __future__ import annotations

import itertools
import random

from atomicseats.booking.seat_selection import ACCESSIBLE_KINDS, SeatState, _wheelchair_with_companion, choose_block


def row(section: int, y: int, free: str, price: int = 1000, kinds: dict[int, str] | None = None) -> list[SeatState]:
    """Seats of one row from a picture: '.' free, 'x' taken; ids are section*1000 + y*100 + number."""
    return [
        SeatState(
            id=section * 1000 + y * 100 + n,
            section_position=section,
            price_cents=price,
            row_y=y,
            number=n,
            x=n,
            kind=(kinds or {}).get(n, "standard"),
            free=c == ".",
        )
        for n, c in enumerate(free, start=1)
    ]


def numbers(ids: list[int] | None) -> list[int] | None:
    return None if ids is None else [i % 100 for i in ids]


def test_picks_adjacent_seats_in_one_row():
    assert numbers(choose_block(row(0, 0, "x..x...x"), 3)) == [5, 6, 7]


def test_never_strands_a_single_seat_when_another_choice_exists():
    # Taking 2-3 or 3-4 of the run 2..4 would leave one seat alone; 6..7 in the run 6..7 leaves none.
    assert numbers(choose_block(row(0, 0, "x...x..x"), 2)) == [6, 7]


def test_strands_a_seat_only_when_there_is_no_other_way():
    picked = numbers(choose_block(row(0, 0, "x...x"), 2))
    assert picked in ([2, 3], [3, 4])


def test_best_prefers_the_first_section_and_cheapest_prefers_the_lowest_price():
    seats = row(0, 0, "....", price=9000) + row(1, 2, "....", price=2000)
    assert choose_block(seats, 2, prefer="best")[0] // 1000 == 0
    assert choose_block(seats, 2, prefer="cheapest")[0] // 1000 == 1


def test_front_rows_first_and_the_middle_of_the_row():
    seats = row(0, 1, "......") + row(0, 0, "......")
    assert numbers(choose_block(seats, 2)) == [3, 4]
    assert choose_block(seats, 2)[0] // 100 % 10 == 0


def test_accessible_seats_only_when_asked_for():
    kinds = {1: "accessible", 2: "companion"}
    seats = row(0, 0, "......", kinds=kinds)
    assert all(n > 2 for n in numbers(choose_block(seats, 2)))
    assert numbers(choose_block(seats, 2, accessible=True)) == [1, 2]


def test_no_block_when_no_row_has_enough_adjacent_seats():
    assert choose_block(row(0, 0, ".x.x.x") + row(0, 1, "..x..."), 4) is None


WHEELCHAIR, COMPANION = "accessible", "companion"


def test_accessible_pairs_a_wheelchair_space_with_a_companion_seat_beside_it():
    # 1-3 are wheelchair spaces and 4-5 companion seats: only 3-4 puts a companion beside the wheelchair.
    seats = row(0, 0, ".....", kinds={1: WHEELCHAIR, 2: WHEELCHAIR, 3: WHEELCHAIR, 4: COMPANION, 5: COMPANION})
    assert numbers(choose_block(seats, 2, accessible=True)) == [3, 4]


def test_accessible_never_offers_companion_seats_without_a_free_wheelchair_space():
    seats = row(0, 0, "x...", kinds={1: WHEELCHAIR, 2: COMPANION, 3: COMPANION}) + row(0, 1, "....")
    assert choose_block(seats, 2, accessible=True) is None


def test_accessible_for_one_is_a_wheelchair_space_never_a_companion_seat():
    seats = row(0, 0, "...", kinds={1: COMPANION, 2: COMPANION, 3: WHEELCHAIR})
    assert numbers(choose_block(seats, 1, accessible=True)) == [3]


def test_accessible_uses_as_few_wheelchair_spaces_as_it_can():
    seats = row(0, 0, "....", kinds={1: WHEELCHAIR, 2: COMPANION, 3: WHEELCHAIR, 4: COMPANION})
    assert numbers(choose_block(seats, 3, accessible=True)) == [2, 3, 4]


def test_accessible_prefers_the_first_section_like_any_request():
    kinds = {1: WHEELCHAIR, 2: COMPANION}
    seats = row(1, 5, "..", kinds=kinds) + row(0, 0, "..", kinds=kinds)
    assert choose_block(seats, 2, accessible=True)[0] // 1000 == 0


def every_block_ranked(seats: list[SeatState], quantity: int, prefer: str, accessible: bool) -> list[int] | None:
    """The ranking of choose_block's docstring applied to every block of the map, none skipped."""
    ranked = []
    rows: dict[tuple[int, int], list[SeatState]] = {}
    for seat in sorted(seats, key=lambda s: (s.section_position, s.row_y, s.number)):
        rows.setdefault((seat.section_position, seat.row_y), []).append(seat)
    for row in rows.values():
        centre = (row[0].x + row[-1].x) / 2
        for start in range(len(row) - quantity + 1):
            window = row[start : start + quantity]
            eligible = all(s.free and (s.kind in ACCESSIBLE_KINDS) == accessible for s in window)
            if not eligible or any(b.number != a.number + 1 for a, b in itertools.pairwise(window)):
                continue
            kinds = [s.kind for s in window]
            if accessible and not _wheelchair_with_companion(window):
                continue
            before = row[start - 1] if start > 0 else None
            after = row[start + quantity] if start + quantity < len(row) else None
            usable = [n for n in (before, after) if n and n.free and (n.kind in ACCESSIBLE_KINDS) == accessible]
            stranded = any(
                (n is before and (start < 2 or not _usable(row[start - 2], accessible)))
                or (
                    n is after
                    and (start + quantity + 1 >= len(row) or not _usable(row[start + quantity + 1], accessible))
                )
                for n in usable
            )
            first = window[0]
            rank = (
                (first.price_cents, first.section_position)
                if prefer == "cheapest"
                else (first.section_position, -first.price_cents)
            )
            key = (
                stranded,
                kinds.count("accessible"),
                rank,
                kinds.count("restricted_view"),
                first.row_y,
                abs((window[0].x + window[-1].x) / 2 - centre),
                first.number,
            )
            ranked.append((key, [s.id for s in window]))
    return min(ranked)[1] if ranked else None


def _usable(seat: SeatState, accessible: bool) -> bool:
    return seat.free and (seat.kind in ACCESSIBLE_KINDS) == accessible


def test_the_rows_it_skips_never_hold_a_better_block():
    """choose_block skips rows that cannot beat the best block found so far; on random maps it still picks the block
    that ranks first among all of them."""
    rng = random.Random(17)
    kinds = ["standard"] * 12 + ["restricted_view", "accessible", "companion"]
    for _ in range(400):
        prices = {section: rng.choice([1000, 2000, 3000]) for section in range(3)}
        seats = [
            SeatState(
                section * 1000 + y * 100 + n, section, prices[section], y, n, n, rng.choice(kinds), rng.random() < 0.5
            )
            for section in range(3)
            for y in range(rng.randint(1, 4))
            for n in range(1, rng.randint(2, 12))
        ]
        for quantity, prefer, accessible in (
            (1, "best", False),
            (2, "best", False),
            (3, "cheapest", False),
            (2, "best", True),
        ):
            assert choose_block(seats, quantity, prefer, accessible) == every_block_ranked(
                seats, quantity, prefer, accessible
            )
