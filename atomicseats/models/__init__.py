"""SQLAlchemy models by aggregate. The invariants live in the schema: see each table's constraints."""

from atomicseats.models.bookings import Booking, BookingSeat
from atomicseats.models.events import Event, Seat, Section
from atomicseats.models.holds import Hold, HoldSeat
from atomicseats.models.messaging import DeadLetter, IdempotencyKey, OutboxMessage, ProcessedMessage
from atomicseats.models.queue import QueueAdmission
from atomicseats.models.users import ApiToken, User
from atomicseats.models.waitlist import WaitlistEntry

__all__ = [
    "ApiToken",
    "Booking",
    "BookingSeat",
    "DeadLetter",
    "Event",
    "Hold",
    "HoldSeat",
    "IdempotencyKey",
    "OutboxMessage",
    "ProcessedMessage",
    "QueueAdmission",
    "Seat",
    "Section",
    "User",
    "WaitlistEntry",
]
