"""The event form: it only converts what people type into an EventSpec / EventPatch.

Every rule about what an event may look like lives in ``booking.specs`` (the API uses the same); the
form maps that validation's dotted field paths (``sections.1.rows.0.seats``) back onto its own fields.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from itertools import count, product
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional, ValidationError

from atomicseats.models import Event

# Row letters as theatres use them: no I or O, which read as 1 and 0.
ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# More rows than a section may have, so that the spec (not the form) reports the limit.
MAX_GENERATED_ROWS = 201
TOP_LEVEL = ("name", "description", "venue", "starts_at", "ends_at", "seating", "capacity", "hold_seconds")
TOP_LEVEL += ("max_per_order", "waitlist_enabled")


def row_labels() -> Any:
    """A, B, ... Z, AA, AB, ...: unique across the whole event, as seat labels are ``row-number``."""
    for size in count(1):
        for letters in product(ROW_LETTERS, repeat=size):
            yield "".join(letters)


def to_cents(amount: Decimal | None) -> int | None:
    return None if amount is None else int((amount * 100).to_integral_value())


def minutes_of(seconds: int) -> Decimal:
    """A hold time as the form shows it: 5, or 1.5 for an API-made 90 s hold."""
    minutes = Decimal(seconds) / 60
    whole = minutes.to_integral_value()
    return whole if minutes == whole else minutes.quantize(Decimal("0.01")).normalize()


# The shared spec (booking/specs.py) words its messages for API clients; a host reads these instead.
PLAIN_BY_FIELD = {
    "ends_at": {"must be after starts_at": "The end must be after the start."},
    "hold_seconds": {"": "The hold time must be between half a minute and 60 minutes."},
    "price_cents": {"": "Enter a price from €0 to €100,000."},
}
PLAIN = [
    (r"^Field required$", "This is required."),
    (r"^String should have at least 1 character", "This cannot be empty."),
    (r"^String should have at most (\d+) characters?", r"Use at most \1 characters."),
    (r"^Input should be a valid integer", "Enter a whole number."),
    (r"^Input should be greater than or equal to (\d+)", r"Enter \1 or more."),
    (r"^Input should be less than or equal to (\d+)", r"Enter \1 or less."),
    (r"^List should have at least 1 item", "Add at least one."),
    (r"^Input should be a valid datetime", "Enter a date and time."),
    (r"^section names must be unique", "Each section needs a different name."),
    (r"^reserved seating needs sections", "Add at least one section."),
    (r"^general admission needs a capacity", "Enter how many places there are."),
    (r"^general admission needs a price", "Enter the price per place."),
]


def plain_english(path: str, message: str) -> str:
    """The host-facing wording of a spec message about ``path`` (``sections.0.price_cents``, ``ends_at``)."""
    last = path.split(".")[-1]
    by_field = PLAIN_BY_FIELD.get(last, {})
    if message in by_field:
        return by_field[message]
    if "" in by_field:
        return by_field[""]
    for pattern, replacement in PLAIN:
        if re.search(pattern, message):
            return re.sub(pattern + ".*$", replacement, message)
    return message


class SectionForm(Form):
    """One block of the sections builder (a sub-form: the outer form carries the CSRF token)."""

    name = StringField("Section name", validators=[Optional()])
    price = DecimalField("Price (€)", places=2, validators=[Optional()])
    rows = IntegerField("Rows", validators=[Optional()])
    seats_per_row = IntegerField("Seats per row", validators=[Optional()])


class EventForm(FlaskForm):
    name = StringField("Name", validators=[Optional()])
    description = TextAreaField("Description", validators=[Optional()])
    venue = StringField("Venue", validators=[Optional()])
    starts_at = DateTimeLocalField("Starts", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    ends_at = DateTimeLocalField("Ends", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    # The host's IANA time zone, set by static/js/event_form.js; the date and time fields are in it.
    tz = HiddenField(default="UTC")
    seating = RadioField(
        "Seating",
        choices=[
            SelectChoice("reserved", "Reserved seats (a seat map)"),
            SelectChoice("general", "General admission (a capacity)"),
        ],
        default="reserved",
    )
    capacity = IntegerField("Capacity (general admission)", validators=[Optional()])
    price = DecimalField("Price per place (€, general admission)", places=2, validators=[Optional()])
    hold_minutes = DecimalField(
        "Hold time (minutes)",
        default=5,
        places=None,
        validators=[Optional()],
        render_kw={"step": "any", "min": "0.5", "max": "60"},
    )
    max_per_order = IntegerField("Most seats per order", default=8, validators=[Optional()])
    waitlist_enabled = BooleanField("Offer a waitlist when sold out", default=True)
    waiting_room_enabled = BooleanField("Queue buyers in a fair waiting room", default=False)
    waiting_room_opens_at = DateTimeLocalField(
        "Queue opens (empty: when published)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    admit_per_minute = IntegerField("People let in per minute", default=60, validators=[Optional()])
    sections = FieldList(FormField(SectionForm), min_entries=1, max_entries=50)
    add_section = SubmitField("Add a section")
    remove_section = SubmitField("Remove the last section")
    submit = SubmitField("Save event")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form_errors: list[str] = []

    def validate_tz(self, field: Field) -> None:
        try:
            ZoneInfo(field.data or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError("Your browser sent a time zone this server does not know.") from exc

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz.data or "UTC")

    def data_for_spec(self, *, include_seating: bool = True, include_sections: bool = True) -> dict[str, Any]:
        """The typed-in values as a spec dict; empty fields are left out so the spec says they are required."""
        data: dict[str, Any] = {
            "name": self.name.data,
            "description": self.description.data or "",
            "venue": self.venue.data,
            "starts_at": self._aware(self.starts_at.data),
            "ends_at": self._aware(self.ends_at.data),
            "hold_seconds": None if self.hold_minutes.data is None else int(self.hold_minutes.data * 60),
            "max_per_order": self.max_per_order.data,
            "waitlist_enabled": bool(self.waitlist_enabled.data),
            "waiting_room": {
                "enabled": bool(self.waiting_room_enabled.data),
                "opens_at": self._aware(self.waiting_room_opens_at.data),
                **({"admit_per_minute": self.admit_per_minute.data} if self.admit_per_minute.data is not None else {}),
            },
        }
        if include_seating:
            data["seating"] = self.seating.data
        if self.seating.data == "general":
            data.update(capacity=self.capacity.data, price_cents=to_cents(self.price.data))
        elif include_sections:
            data["sections"] = self.sections_for_spec()
        return {k: v for k, v in data.items() if v is not None}

    def sections_for_spec(self) -> list[dict[str, Any]]:
        labels = row_labels()
        sections = []
        for entry in self.sections:
            sub = entry.form
            n_rows = min(max(sub.rows.data or 0, 0), MAX_GENERATED_ROWS)
            section = {
                "name": sub.name.data,
                "price_cents": to_cents(sub.price.data),
                "rows": [{"label": next(labels), "seats": sub.seats_per_row.data} for _ in range(n_rows)],
            }
            sections.append({k: v for k, v in section.items() if v is not None})
        return sections

    def _aware(self, moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=self.zone()) if moment else None

    def _local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.zone()).replace(tzinfo=None) if moment else None

    def show_errors(self, fields: dict[str, str]) -> None:
        """Put each message from ``Invalid.details['fields']`` beside the form field it is about."""
        for path, message in fields.items():
            target = self._field_for(path.split("."), message)
            message = plain_english(path, message)
            if target is None:
                self.form_errors.append(message)
            else:
                target.errors = [*target.errors, message]

    def _field_for(self, parts: list[str], message: str) -> Field | None:
        head = parts[0]
        if head == "body":  # a rule across fields; its message starts with the field it is about
            head = next((name for name in (*TOP_LEVEL, "sections") if message.startswith(name)), "body")
        if head == "price_cents":
            return self.price
        if head == "hold_seconds":
            return self.hold_minutes
        if head == "waiting_room":
            name = parts[1] if len(parts) > 1 else "enabled"
            return {"opens_at": self.waiting_room_opens_at, "admit_per_minute": self.admit_per_minute}.get(
                name, self.waiting_room_enabled
            )
        if head in TOP_LEVEL:
            return getattr(self, head)
        if head != "sections" or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(self.sections):
            return None
        sub = self.sections[int(parts[1])].form
        rest = parts[2:]
        if not rest:
            return sub.name
        if rest[0] == "name":
            return sub.name
        if rest[0] == "price_cents":
            return sub.price
        if rest[0] == "rows" and len(rest) >= 3 and rest[2] == "seats":
            return sub.seats_per_row
        return sub.rows

    def fill_from(self, event: Event, layout: list[dict[str, Any]]) -> None:
        """Pre-fill from an event and its sections' layout (rows, seats per row)."""
        for name in ("name", "description", "venue", "max_per_order", "waitlist_enabled", "seating"):
            getattr(self, name).data = getattr(event, name)
        self.hold_minutes.data = minutes_of(event.hold_seconds)
        self.starts_at.data = self._local(event.starts_at)
        self.ends_at.data = self._local(event.ends_at)
        self.waiting_room_enabled.data = event.waiting_room_enabled
        self.waiting_room_opens_at.data = self._local(event.waiting_room_opens_at)
        self.admit_per_minute.data = event.admit_per_minute
        if event.seating == "general":
            self.capacity.data = event.capacity
            self.price.data = Decimal(event.price_cents) / 100
        self.fill_sections(layout)

    def fill_sections(self, layout: list[dict[str, Any]]) -> None:
        while len(self.sections) < len(layout):
            self.sections.append_entry()
        for entry, section in zip(self.sections, layout, strict=False):
            entry.form.name.data = section["name"]
            entry.form.price.data = Decimal(section["price_cents"]) / 100
            entry.form.rows.data = section["rows"]
            entry.form.seats_per_row.data = section["seats_per_row"]
