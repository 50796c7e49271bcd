"""Tables that make messaging safe: the transactional outbox, consumer de-duplication, idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from atomicseats.extensions import db
from atomicseats.models.base import utcnow


class OutboxMessage(db.Model):
    """A Kafka message written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unsent", "id", postgresql_where="sent_at IS NULL"),
        Index("ix_outbox_sent_at", "sent_at", postgresql_where="sent_at IS NOT NULL"),
        Index("ix_outbox_booking_id", text("(payload->>'booking_id')"), postgresql_where="topic = 'booking-requests'"),
        # The email re-drive's question: which notifications went out but never reached their email?
        Index(
            "ix_outbox_undelivered_emails",
            "sent_at",
            postgresql_where="topic = 'notifications' AND delivered_at IS NULL AND sent_at IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Names the message everywhere downstream (Kafka header, RQ job id, processed_messages).
    message_id: Mapped[uuid.UUID] = mapped_column(unique=True, server_default=text("gen_random_uuid()"))
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]  # a notification's email was sent (stamped by the email job)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProcessedMessage(db.Model):
    """A message id a consumer has applied; inserting it in the applying transaction makes redelivery a no-op."""

    __tablename__ = "processed_messages"
    __table_args__ = (Index("ix_processed_messages_processed_at", "processed_at"),)

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class IdempotencyKey(db.Model):
    """The first answer to a creating POST, replayed for a repeat with the same key by the same user."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class DeadLetter(db.Model):
    """A job that failed every retry (an email the SMTP server kept refusing, a confirmation that kept raising),
    kept for an admin to read and replay. ``message_id`` names what the job acts on (the email's message id,
    the booking id)."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_open", "created_at", "id", postgresql_where="replayed_at IS NULL"),
        Index("ix_dead_letters_created", "created_at", "id"),
        Index("ix_dead_letters_kind", "kind", "created_at", "id"),
        Index("ix_dead_letters_event", "event_id", "created_at", "id"),
        Index("ix_dead_letters_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSONB)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # from the payload, for the admin list's filter
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    replayed_at: Mapped[datetime | None]
    replayed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
