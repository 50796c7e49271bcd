"""Holds: short-lived all-or-nothing claims on seats."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from atomicseats.extensions import db
from atomicseats.models.base import utcnow

HOLD_STATUSES = ("active", "checkout", "released", "expired", "converted", "cancelled")
# A hold in one of these states still owns its seats (until its expiry).
LIVE_HOLD_STATUSES = ("active", "checkout")


class Hold(db.Model):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint(f"status IN {HOLD_STATUSES!r}", name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # At most one live hold per user per event.
        Index(
            "uq_holds_live_per_user_event",
            "user_id",
            "event_id",
            unique=True,
            postgresql_where=f"status IN {LIVE_HOLD_STATUSES!r}",
        ),
        Index("ix_holds_live_expires_at", "expires_at", postgresql_where="status = 'active'"),
        Index("ix_holds_event_id", "event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    expires_at: Mapped[datetime]
    # A checkout stretches expires_at by a grace period while its booking is pending; this is the hold's own
    # expiry from before, which a declined payment gives it back (so the card can be retried until then).
    expires_before_checkout: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    ended_at: Mapped[datetime | None]
    # Set when the hold is a waitlist offer.
    waitlist_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="SET NULL", use_alter=True)
    )


class HoldSeat(db.Model):
    """Which seats a hold claimed; kept after the hold ends, as its history."""

    __tablename__ = "hold_seats"

    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id", ondelete="CASCADE"), primary_key=True)
    seat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("seats.id", ondelete="CASCADE"), primary_key=True, index=True
    )
