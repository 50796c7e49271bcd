"""Waiting-room admissions: the durable record that lets each account in at most once per event.

The queue itself lives in Redis (``booking/waiting_room.py``); this row is written before an admission token
is handed out, so a wiped Redis can lose places in line but never admit anyone a second time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from atomicseats.extensions import db


class QueueAdmission(db.Model):
    __tablename__ = "queue_admissions"
    __table_args__ = (Index("ix_queue_admissions_admitted_at", "admitted_at"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # The place in line the person was admitted from; admission tokens carry it, so a token from before a wipe
    # still names exactly this admission.
    seq: Mapped[int] = mapped_column(BigInteger)
    admitted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
