"""Bookings and the seats they paid for."""

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
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from atomicseats.extensions import db
from atomicseats.models.base import utcnow

BOOKING_STATUSES = ("pending", "confirmed", "failed", "cancelled")


class Booking(db.Model):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(f"status IN {BOOKING_STATUSES!r}", name="status_known"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status <> 'confirmed' OR confirmed_at IS NOT NULL", name="confirmed_has_time"),
        Index("ix_bookings_user_id_created_at", "user_id", "created_at"),
        Index("ix_bookings_event_id", "event_id"),
        Index("ix_bookings_pending", "created_at", postgresql_where="status = 'pending'"),
        # One booking per hold that has not failed: a declined card may be retried on the same hold (a new
        # booking each time), but two checkouts of one hold can never both go through.
        Index("uq_bookings_hold_not_failed", "hold_id", unique=True, postgresql_where="status <> 'failed'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    quantity: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    payment_reference: Mapped[str | None] = mapped_column(String(64))
    # The provider's token for the card (never the card number), so a re-driven booking can still be charged.
    payment_token: Mapped[str | None] = mapped_column(String(64))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)


class BookingSeat(db.Model):
    """A seat of a booking at the price paid. ``active`` rows are unique per seat: never sold twice."""

    __tablename__ = "booking_seats"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        Index("uq_booking_seats_active_seat", "seat_id", unique=True, postgresql_where="active"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    seat_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("seats.id", ondelete="RESTRICT"), primary_key=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
