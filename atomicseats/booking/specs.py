"""What an event may look like: one validation for the API, the web forms and the CLI seeder.

Validation errors come out as :class:`~atomicseats.exceptions.Invalid` with a message per field
(``details.fields``), which the API answers with 422 and the forms show beside their fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from atomicseats.exceptions import Invalid
from atomicseats.models.events import MAX_ADMIT_PER_MINUTE, MAX_SEATS_PER_EVENT

MAX_PRICE_CENTS = 10_000_000

Cents = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS, strict=True)]
RowLabel = Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RowSpec(Spec):
    label: RowLabel
    seats: Annotated[int, Field(ge=1, le=500, strict=True)]
    accessible: list[int] = Field(default_factory=list, max_length=500)
    companion: list[int] = Field(default_factory=list, max_length=500)
    restricted_view: list[int] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _numbers_in_row(self) -> RowSpec:
        for kind in ("accessible", "companion", "restricted_view"):
            bad = [n for n in getattr(self, kind) if not 1 <= n <= self.seats]
            if bad:
                raise ValueError(f"{kind} seat numbers {bad} are not in a row of {self.seats}")
        return self


class SectionSpec(Spec):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    price_cents: Cents
    rows: list[RowSpec] = Field(min_length=1, max_length=200)


class WaitingRoomSpec(Spec):
    """A fair queue in front of the sale (booking/waiting_room.py); ``opens_at`` absent: when it goes on sale."""

    enabled: Annotated[bool, Field(strict=True)] = False
    opens_at: AwareDatetime | None = None
    admit_per_minute: Annotated[int, Field(ge=1, le=MAX_ADMIT_PER_MINUTE, strict=True)] = 60


class EventFields(Spec):
    """Fields shared by creating and editing."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    venue: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    hold_seconds: Annotated[int, Field(ge=30, le=3600, strict=True)] | None = None
    max_per_order: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None
    waitlist_enabled: Annotated[bool, Field(strict=True)] | None = None
    capacity: Annotated[int, Field(ge=1, le=MAX_SEATS_PER_EVENT, strict=True)] | None = None
    price_cents: Cents | None = None
    sections: list[SectionSpec] | None = Field(default=None, min_length=1, max_length=50)
    waiting_room: WaitingRoomSpec | None = None

    @field_validator("ends_at")
    @classmethod
    def _ends_after_starts(cls, ends_at: datetime | None, info: ValidationInfo) -> datetime | None:
        starts_at = info.data.get("starts_at")
        if starts_at and ends_at and ends_at <= starts_at:
            raise ValueError("must be after starts_at")
        return ends_at

    @field_validator("sections")
    @classmethod
    def _sections_fit_together(cls, sections: list[SectionSpec] | None) -> list[SectionSpec] | None:
        if not sections:
            return sections
        names = [s.name.lower() for s in sections]
        if len(set(names)) != len(names):
            raise ValueError("section names must be unique")
        labels = [r.label.upper() for s in sections for r in s.rows]
        if len(set(labels)) != len(labels):
            raise ValueError("row labels must be unique across the event (seat labels are row-number)")
        total = sum(r.seats for s in sections for r in s.rows)
        if total > MAX_SEATS_PER_EVENT:
            raise ValueError(f"an event has at most {MAX_SEATS_PER_EVENT} seats, this one has {total}")
        return sections


class EventSpec(EventFields):
    """A new event: everything required that editing may leave out."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    venue: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    seating: Literal["reserved", "general"]
    description: Annotated[str, Field(max_length=5000)] = ""
    hold_seconds: Annotated[int, Field(ge=30, le=3600, strict=True)] = 300
    max_per_order: Annotated[int, Field(ge=1, le=100, strict=True)] = 8
    waitlist_enabled: Annotated[bool, Field(strict=True)] = True

    @model_validator(mode="after")
    def _seating(self) -> EventSpec:
        # Messages start with the field they are about, so that parse() can put them beside it.
        if self.seating == "reserved":
            if not self.sections:
                raise ValueError("sections: reserved seating needs sections")
            if self.capacity is not None:
                raise ValueError("capacity: reserved seating takes its capacity from its sections")
            if self.price_cents is not None:
                raise ValueError("price_cents: reserved seating takes prices per section")
        else:
            if self.sections:
                raise ValueError("sections: general admission takes capacity and price_cents, not sections")
            if self.capacity is None:
                raise ValueError("capacity: general admission needs a capacity")
            if self.price_cents is None:
                raise ValueError("price_cents: general admission needs a price")
        return self


class EventPatch(EventFields):
    """An edit: only the fields given change."""


S = TypeVar("S", bound=BaseModel)


def parse(model: type[S], data: Any) -> S:
    """Validate ``data`` (a dict, or raw JSON bytes) into ``model`` or raise Invalid with per-field messages."""
    try:
        if isinstance(data, bytes | str):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            message = err["msg"].removeprefix("Value error, ")
            name = ".".join(str(p) for p in err["loc"])
            if not name:
                field, sep, rest = message.partition(": ")
                name, message = (field, rest) if sep and field.isidentifier() else ("body", message)
            fields.setdefault(name, message)
        first = next(iter(fields.items()))
        raise Invalid(f"{first[0]}: {first[1]}", details={"fields": fields}) from exc


EditableKind = Literal["standard", "accessible", "companion", "restricted_view"]
MAX_MAP_COORDINATE = 10_000


class SeatChange(Spec):
    """One seat's new kind, sale status or map position (a gap or an aisle moves seats); absent fields stay."""

    id: Annotated[int, Field(strict=True, ge=1)]
    kind: EditableKind | None = None
    for_sale: Annotated[bool, Field(strict=True)] | None = None
    x: Annotated[int, Field(strict=True, ge=0, le=MAX_MAP_COORDINATE)] | None = None
    y: Annotated[int, Field(strict=True, ge=0, le=MAX_MAP_COORDINATE)] | None = None

    @model_validator(mode="after")
    def _something_and_whole_positions(self) -> SeatChange:
        if (self.x is None) != (self.y is None):
            raise ValueError("give x and y together")
        if self.kind is None and self.for_sale is None and self.x is None:
            raise ValueError("give kind, for_sale or a position (x and y)")
        return self


class SeatMapEdit(Spec):
    """The seat-map editor's save: the seats it changed, each once."""

    seats: list[SeatChange] = Field(min_length=1, max_length=MAX_SEATS_PER_EVENT)

    @model_validator(mode="after")
    def _each_seat_once(self) -> SeatMapEdit:
        if len({c.id for c in self.seats}) != len(self.seats):
            raise ValueError("seats: each seat may appear once")
        return self
