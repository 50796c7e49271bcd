"""Events, their sections and seats.

General admission places are seat rows too (kind ``general``, no section): one row per place makes
"held + booked never exceed capacity" a structural fact instead of a counter that could drift.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from atomicseats.extensions import db
from atomicseats.models.base import utcnow

EVENT_STATUSES = ("draft", "on_sale", "sold_out", "ended", "cancelled")
SEATINGS = ("reserved", "general")
SEAT_KINDS = ("standard", "accessible", "companion", "restricted_view", "general")
MAX_SEATS_PER_EVENT = 20_000
MAX_ADMIT_PER_MINUTE = 100_000


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(f"status IN {EVENT_STATUSES!r}", name="status_known"),
        CheckConstraint(f"seating IN {SEATINGS!r}", name="seating_known"),
        CheckConstraint(f"capacity BETWEEN 0 AND {MAX_SEATS_PER_EVENT}", name="capacity_range"),
        CheckConstraint("price_cents IS NULL OR price_cents >= 0", name="price_not_negative"),
        CheckConstraint("seating = 'reserved' OR price_cents IS NOT NULL", name="general_has_price"),
        CheckConstraint("hold_seconds BETWEEN 30 AND 3600", name="hold_seconds_range"),
        CheckConstraint("max_per_order BETWEEN 1 AND 100", name="max_per_order_range"),
        CheckConstraint(f"admit_per_minute BETWEEN 1 AND {MAX_ADMIT_PER_MINUTE}", name="admit_per_minute_range"),
        Index("ix_events_status_starts_at", "status", "starts_at"),
        Index("ix_events_host_id", "host_id"),
        # the scheduler's "which on-sale events have a waiting room", every second (booking/waiting_room.py)
        Index("ix_events_open_waiting_rooms", "id", postgresql_where="waiting_room_enabled AND status = 'on_sale'"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    venue: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    seating: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    price_cents: Mapped[int | None] = mapped_column(Integer)
    hold_seconds: Mapped[int] = mapped_column(Integer, default=300, server_default="300")
    max_per_order: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # The waiting room (booking/waiting_room.py): holds need an admission token; it opens at
    # waiting_room_opens_at, or when the event goes on sale if that is not set.
    waiting_room_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    waiting_room_opens_at: Mapped[datetime | None]
    admit_per_minute: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    host = relationship("User")
    sections = relationship(
        "Section", back_populates="event", order_by="Section.position", cascade="all, delete-orphan"
    )


class Section(db.Model):
    __tablename__ = "sections"
    __table_args__ = (
        UniqueConstraint("event_id", "name", name="uq_sections_event_name"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    price_cents: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    event = relationship("Event", back_populates="sections")


class Seat(db.Model):
    """A seat (or general admission place) and its current claim.

    ``hold_id`` is a single column, so a seat can be in at most one hold at a time; a hold whose
    ``hold_expires_at`` has passed no longer counts, so no correctness depends on a sweeper.
    ``booking_id`` likewise names the one confirmed booking that owns the seat.
    """

    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("event_id", "label", name="uq_seats_event_label"),
        CheckConstraint(f"kind IN {SEAT_KINDS!r}", name="kind_known"),
        CheckConstraint("(hold_id IS NULL) = (hold_expires_at IS NULL)", name="hold_has_expiry"),
        CheckConstraint("hold_id IS NULL OR booking_id IS NULL", name="held_or_booked"),
        CheckConstraint("for_sale OR (hold_id IS NULL AND booking_id IS NULL)", name="off_sale_unclaimed"),
        Index("ix_seats_event_id_id", "event_id", "id"),
        Index("ix_seats_hold_id", "hold_id", postgresql_where="hold_id IS NOT NULL"),
        Index("ix_seats_booking_id", "booking_id", postgresql_where="booking_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(32))
    row_label: Mapped[str | None] = mapped_column(String(8))
    number: Mapped[int | None] = mapped_column(Integer)
    x: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    y: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kind: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    # False for a seat the host keeps off sale: it is drawn on the map but never held or booked.
    for_sale: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    hold_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("holds.id", ondelete="SET NULL"))
    hold_expires_at: Mapped[datetime | None]
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))

    section = relationship("Section")
