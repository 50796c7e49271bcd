"""Finding published events: one search for the API's event list and the web's event list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, union_all
from sqlalchemy.orm import Session

from atomicseats.models import Event
from atomicseats.models.base import utcnow


@dataclass(frozen=True)
class EventSearch:
    """``q`` matches name, venue or description; ``starts_from``/``starts_to`` bound ``starts_at`` (inclusive).

    ``statuses`` are as readers see them: an on-sale event whose end has passed is ``ended`` (the scheduler
    stores that a few seconds later, ``inventory.end_past_events``).
    """

    q: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    statuses: tuple[str, ...] = ("on_sale",)


def search(
    session: Session,
    criteria: EventSearch,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
    now: datetime | None = None,
) -> list[Event]:
    """Events in (starts_at, id) order, after the ``after`` position when paging; drafts never appear.

    Each status is read as its own range of ``ix_events_status_starts_at``, in order and cut at ``limit``, and
    the ranges are merged after: a page costs O(limit) per status however many events have ended, where one
    ``status IN (...)`` scan would sort every ended event to find the first few.
    """
    filters = []
    if criteria.q:
        escaped = criteria.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        filters.append(or_(Event.name.ilike(pattern), Event.venue.ilike(pattern), Event.description.ilike(pattern)))
    if criteria.starts_from is not None:
        filters.append(Event.starts_at >= criteria.starts_from)
    if criteria.starts_to is not None:
        filters.append(Event.starts_at <= criteria.starts_to)
    if after is not None:
        filters.append(or_(Event.starts_at > after[0], and_(Event.starts_at == after[0], Event.id > after[1])))
    ranges = [
        select(Event.id).where(status, *filters).order_by(Event.starts_at, Event.id).limit(limit)
        for status in _status_ranges(criteria.statuses, now or utcnow())
    ]
    page = union_all(*ranges).subquery()
    query = select(Event).where(Event.id.in_(select(page.c.id))).order_by(Event.starts_at, Event.id).limit(limit)
    return list(session.scalars(query))


def _status_ranges(statuses: tuple[str, ...], now: datetime) -> list[ColumnElement[bool]]:
    """One condition per stored status to read, an on-sale event past its end counting as ended."""
    ranges: list[ColumnElement[bool]] = []
    for status in statuses:
        if status == "on_sale":
            ranges.append(and_(Event.status == "on_sale", Event.ends_at > now))
        elif status == "ended":
            ranges += [Event.status == "ended", and_(Event.status == "on_sale", Event.ends_at <= now)]
        elif status != "draft":
            ranges.append(Event.status == status)
    return ranges
