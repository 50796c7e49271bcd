"""A waitlist entry's life called on the engine directly: join once, an offer when places free up, the offer
lapsing to the next in line, and leaving with an open offer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from atomicseats.booking import hold_endings, holds, waitlist
from atomicseats.booking.claims import HoldRequest
from atomicseats.exceptions import Conflict
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow


def join(event_id: int, user: User, now=None, **wanted) -> str:
    return waitlist.join(event_id, db.session.merge(user), waitlist.JoinRequest(**wanted), now=now).body["id"]


def statuses(event_id: int) -> dict[str, str]:
    rows = db.session.execute(text("SELECT id, status FROM waitlist_entries WHERE event_id = :e"), {"e": event_id})
    return {str(r.id): r.status for r in rows}


def sold_out(factory, places: int):
    """A general admission event of ``places`` places, all held by one holder: (event, holder, their hold)."""
    event = factory.event(seating="general", capacity=places)
    holder = factory.user()
    held = holds.create_hold(event.id, db.session.merge(holder), HoldRequest(quantity=places)).obj
    return event, holder, held


def test_one_open_entry_per_person_per_event(factory, ctx):
    event, _, _ = sold_out(factory, 2)
    person = factory.user()
    join(event.id, person)
    with pytest.raises(Conflict) as again:
        join(event.id, person, quantity=2)
    assert again.value.code == "already_waiting"
    assert len(statuses(event.id)) == 1


def test_an_offer_nobody_takes_lapses_and_passes_to_the_next_in_line(factory, ctx):
    event, holder, held = sold_out(factory, 2)
    now = utcnow()
    first, second = join(event.id, factory.user(), now, quantity=2), join(event.id, factory.user(), now, quantity=2)
    hold_endings.release_hold(held.id, db.session.merge(holder), now)

    [offer] = waitlist.allocate(event.id, now)
    assert str(offer.entry_id) == first and statuses(event.id) == {first: "offered", second: "waiting"}

    assert hold_endings.expire_due(offer.expires_at + timedelta(seconds=1)) == 1
    [passed_on] = waitlist.allocate(event.id, offer.expires_at + timedelta(seconds=1))

    assert str(passed_on.entry_id) == second and statuses(event.id) == {first: "expired", second: "offered"}


def test_leaving_with_an_open_offer_frees_its_places_at_once(factory, ctx):
    event, holder, held = sold_out(factory, 2)
    person = factory.user()
    entry = join(event.id, person, quantity=2)
    hold_endings.release_hold(held.id, db.session.merge(holder))
    [offer] = waitlist.allocate(event.id)

    waitlist.leave(offer.entry_id, db.session.merge(person))

    assert statuses(event.id) == {entry: "left"}
    assert db.session.scalar(text("SELECT status FROM holds WHERE id = :h"), {"h": offer.hold_id}) == "released"
    taken = db.session.scalar(
        text("SELECT count(*) FROM seats WHERE event_id = :e AND hold_id IS NOT NULL"), {"e": event.id}
    )
    assert taken == 0
