"""One event's state in a realtime process: how a tick's changes merge, and how a snapshot stays true."""

from __future__ import annotations

from atomicseats.realtime.rooms import EventState, JoinBudget


def loaded(statuses: dict[int, str]) -> EventState:
    state = EventState(7)
    state.loading = True
    state.loaded([{"id": i, "status": s} for i, s in statuses.items()], at=0.0)
    return state


def test_a_tick_carries_each_changed_seat_once_with_its_last_status_and_counts_that_match_the_seats() -> None:
    state = loaded({1: "available", 2: "available", 3: "booked"})
    state.change([{"id": 1, "status": "held"}, {"id": 2, "status": "held"}], {"held": 99})
    state.change([{"id": 1, "status": "available"}], None)
    tick = state.take_changes()
    assert tick == {
        "event_id": 7,
        "seats": [{"id": 1, "status": "available"}, {"id": 2, "status": "held"}],
        "availability": {"total": 3, "available": 1, "held": 1, "booked": 1},
    }
    assert state.take_changes() is None


def test_changes_that_arrive_while_the_snapshot_is_read_are_applied_on_top_of_it() -> None:
    state = EventState(7)
    state.loading = True
    state.change([{"id": 2, "status": "held"}], None)
    state.loaded([{"id": 1, "status": "available"}, {"id": 2, "status": "available"}], at=0.0)
    assert state.full()["seats"] == [{"id": 1, "status": "available"}, {"id": 2, "status": "held"}]


def test_a_seat_not_of_the_event_is_sent_on_but_neither_kept_nor_counted() -> None:
    state = loaded({1: "available"})
    state.change([{"id": 999, "status": "held"}], None)
    assert state.take_changes()["seats"] == [{"id": 999, "status": "held"}]
    assert state.full()["availability"] == {"total": 1, "available": 1, "held": 0, "booked": 0}


def test_without_a_snapshot_the_published_counts_are_sent() -> None:
    state = loaded({1: "available"})
    state.forget()
    state.change([{"id": 1, "status": "held"}], {"total": 1, "available": 0, "held": 1, "booked": 0})
    assert state.take_changes()["availability"] == {"total": 1, "available": 0, "held": 1, "booked": 0}


def test_a_join_budget_allows_a_burst_then_refills_with_time() -> None:
    budget = JoinBudget(capacity=2, per_second=0.5)
    assert [budget.take(0.0), budget.take(0.0), budget.take(0.0)] == [True, True, False]
    assert budget.take(1.0) is False
    assert budget.take(2.0) is True
