"""Notification emails: what each kind says, composed from the database at send time, and sent once.

Rendering and SMTP belong to the app, not the booking engine: the engine only puts a notification message in
the outbox, and the RQ job (``pipeline/jobs.py``) calls :func:`send`.

The message on the ``notifications`` topic carries only ids; the email is composed when it is sent, from
Jinja templates (``templates/email/``: a text and an HTML body), with the booking reference, the seats,
the event and its times. A message id recorded in ``processed_messages`` in the sending transaction makes a
redelivered message send nothing (at worst one duplicate, if the process dies between SMTP and commit).
"""

from __future__ import annotations

import email.policy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from typing import Any

from flask import current_app, render_template
from flask_mail import Message
from sqlalchemy import text

from atomicseats.booking.outbox import NOTIFICATIONS
from atomicseats.booking.tx import transaction
from atomicseats.extensions import db, mail
from atomicseats.logs import request_id_bound

log = logging.getLogger(__name__)
EMAIL_CONSUMER = "email"

SUBJECTS = {
    "booking_confirmed": "Booking {reference} confirmed: {event}",
    "booking_failed": "Your booking for {event} did not go through",
    "booking_cancelled": "Booking {reference} cancelled: {event}",
    "waitlist_offer": "Places are free for {event}: your waitlist offer",
    "waitlist_offer_expired": "Your waitlist offer for {event} has expired",
    "event_cancelled": "Cancelled: {event}",
}
FAILURE_TEXT = {
    "hold_expired": "your hold on the seats ran out before the payment could be completed",
    "payment_declined": "the card was declined",
    "payment_timeout": "the payment provider did not answer in time; you have not been charged",
    "event_cancelled": "the event was cancelled",
}


# Flask-Mail writes its message under ``email.policy.SMTP``, which parses a header again each time the generator
# reads it, and the generator reads each part's Content-Type many times: in a flash sale that was the largest
# part of the mailer's CPU. Flask-Mail has already encoded every header it sets, so the classic policy, with
# the CRLF line ends SMTP wants, writes the same email for less than half the CPU.
_WIRE_POLICY = email.policy.compat32.clone(linesep="\r\n")


class WireMessage(Message):
    """Flask-Mail's message, written under :data:`_WIRE_POLICY`; a reader parses the same headers and parts."""

    def as_bytes(self) -> bytes:
        message = self._message()
        message.policy = _WIRE_POLICY
        if self.subject and not self.subject.isascii():
            # Flask-Mail folds the encoded subject without room for "Subject: "; folded again for the wire, its
            # first line would be empty and readers would see a leading space. Encoded here, it folds once.
            message.replace_header("Subject", Header(self.subject, "utf-8", header_name="Subject"))
        return message.as_bytes()


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


def _when(moment: datetime | None) -> str:
    return moment.strftime("%A %d %B %Y, %H:%M UTC") if moment else ""


def compose(payload: dict[str, Any]) -> Email | None:
    """The email for a notification message, or None when there is nobody to send it to."""
    kind = payload["kind"]
    if kind not in SUBJECTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    session = db.session
    user = session.execute(text("SELECT email, name FROM users WHERE id = :u"), {"u": payload["user_id"]}).first()
    event = session.execute(
        text("SELECT id, name, venue, starts_at, ends_at FROM events WHERE id = :e"), {"e": payload["event_id"]}
    ).first()
    if user is None or event is None:
        return None
    booking = None
    seats: list[Any] = []
    if payload.get("booking_id"):
        booking = session.execute(
            text(
                "SELECT id, reference, status, total_cents, failure_reason, confirmed_at, cancelled_at, card_last4 "
                "FROM bookings WHERE id = :b"
            ),
            {"b": payload["booking_id"]},
        ).first()
        seats = session.execute(
            text(
                "SELECT s.label, sec.name AS section, bs.price_cents FROM booking_seats bs JOIN seats s "
                "ON s.id = bs.seat_id LEFT JOIN sections sec ON sec.id = s.section_id WHERE bs.booking_id = :b "
                "ORDER BY s.id"
            ),
            {"b": payload["booking_id"]},
        ).all()
    elif payload.get("hold_id"):
        seats = session.execute(
            text(
                "SELECT s.label, sec.name AS section, COALESCE(sec.price_cents, e.price_cents) AS price_cents "
                "FROM hold_seats hs JOIN seats s ON s.id = hs.seat_id JOIN events e ON e.id = s.event_id "
                "LEFT JOIN sections sec ON sec.id = s.section_id WHERE hs.hold_id = :h ORDER BY s.id"
            ),
            {"h": payload["hold_id"]},
        ).all()
    reason = (booking.failure_reason if booking else None) or payload.get("failure_reason")
    expires_at = datetime.fromisoformat(payload["expires_at"]) if payload.get("expires_at") else None
    context = {
        "kind": kind,
        "user": user,
        "event": event,
        "booking": booking,
        "seats": seats,
        "total": f"{(booking.total_cents if booking else sum(s.price_cents for s in seats)) / 100:.2f}",
        "reason": reason,
        "reason_text": FAILURE_TEXT.get(reason or "", reason),
        "expires_at": _when(expires_at),
        "starts_at": _when(event.starts_at),
        "ends_at": _when(event.ends_at),
        "confirmed_at": _when(booking.confirmed_at if booking else None),
        "base_url": current_app.config.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "payload": payload,
    }
    subject = SUBJECTS[kind].format(reference=booking.reference if booking else "", event=event.name)
    return Email(
        to=user.email,
        subject=subject,
        text=render_template("email/notification.txt", **context),
        html=render_template("email/notification.html", **context),
    )


def send(payload: dict[str, Any], message_id: str, connection: Any = None) -> bool:
    """Send the email for one message unless it was sent already; False for a repeat (or nobody to tell).

    ``connection``: an open Flask-Mail connection to send over (a batch shares one); by default a new one.
    """
    with request_id_bound(payload.get("request_id")):
        return _send(payload, message_id, connection or mail)


def _delivered(session: Any, message_id: str) -> None:
    """Stamp the notification's outbox row, in the sending transaction: the re-drive then no longer asks about it.

    A message from outside the outbox (its id is Kafka's topic, partition and offset) has no row to stamp.
    """
    try:
        outbox_id = uuid.UUID(message_id)
    except ValueError:
        return
    session.execute(
        text("UPDATE outbox SET delivered_at = now() WHERE message_id = :m AND topic = :t"),
        {"m": outbox_id, "t": NOTIFICATIONS},
    )


def _send(payload: dict[str, Any], message_id: str, sender: Any) -> bool:
    with transaction() as session:
        first = session.execute(
            text(
                "INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES (:c, :m, now()) "
                "ON CONFLICT DO NOTHING RETURNING message_id"
            ),
            {"c": EMAIL_CONSUMER, "m": message_id},
        ).first()
        if first is None:
            return False
        _delivered(session, message_id)
        email = compose(payload)
        if email is None:
            return False
        headers = {"X-Request-Id": payload["request_id"]} if payload.get("request_id") else None
        sender.send(
            WireMessage(
                subject=email.subject,
                recipients=[email.to],
                body=email.text,
                html=email.html,
                extra_headers=headers,
            )
        )
    log.info("email %s sent to %s: %s", message_id, email.to, email.subject)
    return True
