"""What the API answers, as pydantic models: the source of the response schemas in the OpenAPI document.

The routes build plain dicts (the engine's JSON-ready views); these models only describe them. The contract
tests (schemathesis) check every answer against these schemas, so a view that changes shape without its
model here fails the suite instead of silently breaking clients.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventStatus = Literal["draft", "on_sale", "sold_out", "ended", "cancelled"]
BookingStatus = Literal["pending", "confirmed", "failed", "cancelled"]


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(Out):
    code: str = Field(examples=["seats_unavailable"])
    message: str
    details: dict[str, Any]


class Error(Out):
    """SPEC's error shape, for every 4xx and 5xx."""

    error: ErrorBody


class UserOut(Out):
    id: int
    email: str
    name: str
    role: Literal["attendee", "host", "admin"]
    created_at: datetime


class TokenOut(Out):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class Availability(Out):
    total: int
    available: int
    held: int
    booked: int


class SectionOut(Out):
    id: int
    name: str
    price_cents: int


class WaitingRoomOut(Out):
    enabled: bool
    opens_at: datetime | None = Field(description="Null: the queue opens when the event goes on sale.")
    admit_per_minute: int


class EventOut(Out):
    id: int
    host_id: int
    name: str
    description: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    status: EventStatus
    seating: Literal["reserved", "general"]
    capacity: int
    hold_seconds: int
    max_per_order: int
    waitlist_enabled: bool
    waiting_room: WaitingRoomOut
    price_cents: int | None = Field(default=None, description="General admission only.")
    availability: Availability | None = None
    sections: list[SectionOut] | None = Field(default=None, description="Reserved seating, in a single event.")


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None


class SeatOut(Out):
    id: int
    label: str
    section: str | None
    row_label: str | None
    number: int | None
    kind: str
    for_sale: bool = Field(description="False for a seat the host keeps off sale: drawn on the map, never held.")
    x: int
    y: int
    price_cents: int
    status: Literal["available", "held", "booked"]
    hold_expires_in: int | None


class SeatList(Out):
    items: list[SeatOut]


class PricedSeat(Out):
    id: int
    label: str
    section: str | None
    price_cents: int


class HoldOut(Out):
    id: str = Field(json_schema_extra={"format": "uuid"})
    event_id: int
    status: str
    seats: list[PricedSeat]
    quantity: int
    total_cents: int
    expires_at: datetime
    expires_in: int
    shortfall: int | None = Field(default=None, description="Places asked for but not held (allow_partial).")


class BookingAccepted(Out):
    id: str = Field(json_schema_extra={"format": "uuid"})
    status: Literal["pending"]


class BookingOut(Out):
    id: str = Field(json_schema_extra={"format": "uuid"})
    reference: str = Field(examples=["AS-7K3QZ2"])
    status: BookingStatus
    event_id: int
    event_name: str
    seats: list[PricedSeat]
    quantity: int
    total_cents: int
    card_last4: str | None
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    failure_reason: str | None = None


class BookingPage(Out):
    items: list[BookingOut]
    next_cursor: str | None


class WaitlistPreferences(Out):
    """What an offer to the entry respects (null: any section, any price)."""

    section_ids: list[int] | None = Field(description="Offer seats only in these sections of the event.")
    together: bool = Field(description="The places must be adjacent seats in one row.")
    max_price_cents: int | None = Field(description="Offer no seat or place that costs more than this.")


class WaitlistJoined(WaitlistPreferences):
    id: str = Field(json_schema_extra={"format": "uuid"})
    event_id: int
    quantity: int
    accept_partial: bool
    status: str
    position: int


class Offer(Out):
    hold_id: str = Field(json_schema_extra={"format": "uuid"})
    quantity: int
    expires_at: datetime
    expires_in: int


class OfferAccepted(Offer):
    checkout_url: str = Field(description="The checkout page for the offer's hold; or POST /api/v1/bookings with it.")


class WaitlistEntryOut(WaitlistPreferences):
    id: str = Field(json_schema_extra={"format": "uuid"})
    event_id: int
    event_name: str
    quantity: int
    accept_partial: bool
    status: str
    position: int | None
    created_at: datetime
    offer: Offer | None


class WaitlistPage(Out):
    items: list[WaitlistEntryOut]
    next_cursor: str | None


class QueueStateOut(Out):
    """One account's place in an event's waiting room (the same for every tab and reload)."""

    ticket: str = Field(description="Read it again with GET /api/v1/queue/{ticket} (only its owner may).")
    event_id: int
    status: Literal["waiting", "admitted", "expired", "sold_out"]
    position: int | None = Field(description="1 = next in. Null before the sale opens: places are drawn then.")
    place: int | None = Field(description="The absolute place number; live pushes say how far the line has moved.")
    eta_seconds: int | None = Field(description="Until admission at the room's rate (before opening: until opening).")
    opens_at: datetime
    admission_token: str | None = Field(
        default=None, description="When admitted: send it as the X-Admission-Token header of the hold request."
    )
    admission_expires_at: datetime | None = None
    admission_used: bool | None = Field(default=None, description="A hold was made with it; it admits no other.")


class EventSummary(Out):
    id: int
    name: str
    status: str
    seating: str
    starts_at: datetime
    total: int
    sold: int
    held: int
    available: int
    utilisation: float
    bookings: int
    revenue_cents: int


class SectionSales(Out):
    section: str
    price_cents: int | None
    total: int
    sold: int
    held: int
    available: int
    revenue_cents: int


class DaySales(Out):
    day: date
    bookings: int
    seats: int | None = None
    revenue_cents: int


class Attendee(Out):
    reference: str
    name: str
    email: str
    quantity: int
    total_cents: int
    confirmed_at: datetime
    seats: str


class SalesOut(Out):
    event: EventSummary
    by_section: list[SectionSales]
    by_day: list[DaySales]
    attendees: list[Attendee] = Field(description="One page, in order of confirmation.")
    next_cursor: str | None


class Totals(Out):
    bookings: int
    seats_sold: int
    revenue_cents: int
    events: int
    users: int


class AnalyticsOut(Out):
    totals: Totals
    events: list[EventSummary] = Field(description="One page, soonest first.")
    next_cursor: str | None
    most_popular: list[EventSummary]
    revenue_by_day: list[DaySales]


class DeadLetter(Out):
    id: int
    kind: str
    message_id: str
    event_id: int | None
    payload: dict[str, Any]
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None
    replayed_by: str | None  # the email of the admin who replayed it


class DeadLetterPage(Out):
    items: list[DeadLetter]
    next_cursor: str | None


class Replayed(Out):
    id: int
    status: Literal["replayed"]


class OpenApiDocument(Out):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
