"""Waitlist entries, served first in, first out."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from atomicseats.extensions import db
from atomicseats.models.base import utcnow

WAITLIST_STATUSES = ("waiting", "offered", "fulfilled", "left", "expired", "cancelled")


class WaitlistEntry(db.Model):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint(f"status IN {WAITLIST_STATUSES!r}", name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("max_price_cents >= 0", name="max_price_not_negative"),
        Index(
            "uq_waitlist_open_per_user_event",
            "user_id",
            "event_id",
            unique=True,
            postgresql_where="status IN ('waiting', 'offered')",
        ),
        Index("ix_waitlist_event_seq", "event_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Monotonic arrival order: FIFO position is the rank of seq among open entries.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    accept_partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Preferences an offer must respect (NULL: any section, any price); decision 0017.
    section_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    together: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    max_price_cents: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="waiting", server_default="waiting")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
