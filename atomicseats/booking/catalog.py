"""Finding published events: one search for the API's event list and the web's event list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from atomicseats.models import Event


@dataclass(frozen=True)
class EventSearch:
    """``q`` matches name, venue or description; ``starts_from``/``starts_to`` bound ``starts_at`` (inclusive)."""

    q: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    statuses: tuple[str, ...] = ("on_sale",)


def search(
    session: Session, criteria: EventSearch, *, limit: int, after: tuple[datetime, int] | None = None
) -> list[Event]:
    """Events in (starts_at, id) order, after the ``after`` position when paging; drafts never appear."""
    query = select(Event).where(Event.status.in_(criteria.statuses), Event.status != "draft")
    if criteria.q:
        escaped = criteria.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(Event.name.ilike(pattern), Event.venue.ilike(pattern), Event.description.ilike(pattern))
        )
    if criteria.starts_from is not None:
        query = query.where(Event.starts_at >= criteria.starts_from)
    if criteria.starts_to is not None:
        query = query.where(Event.starts_at <= criteria.starts_to)
    if after is not None:
        query = query.where(or_(Event.starts_at > after[0], and_(Event.starts_at == after[0], Event.id > after[1])))
    return list(session.scalars(query.order_by(Event.starts_at, Event.id).limit(limit)))
