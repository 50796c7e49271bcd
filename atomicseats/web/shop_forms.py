"""Forms of the attendee pages: event search, payment, booking cancellation, waitlist."""

from __future__ import annotations

from flask import abort
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    SearchField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError


class SearchForm(FlaskForm):
    """A GET form: bookmarkable, so no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    q = SearchField("Search", validators=[Optional(), Length(max=100)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field: DateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date must not be before the start date.")


class PaymentForm(FlaskForm):
    """Rendered on the checkout page; the page's script sends it to POST /api/v1/bookings."""

    card_number = StringField(
        "Card number",
        validators=[DataRequired(), Regexp(r"^[0-9 ]{12,23}$", message="Enter the card's 12 to 19 digits.")],
        description="Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined.",
    )
    submit = SubmitField("Pay now")


class ConfirmForm(FlaskForm):
    """A bare CSRF-protected button: cancel a booking, leave a waitlist."""

    submit = SubmitField("Confirm")


def require_confirmation() -> None:
    """400 unless the posted button carries a valid CSRF token (a stale page or a forged post)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")


class WaitlistForm(FlaskForm):
    """Join a waitlist: the engine's JoinRequest checks what only the event knows (its sections and prices)."""

    quantity = IntegerField("Places wanted", validators=[DataRequired(), NumberRange(min=1, max=100)], default=1)
    accept_partial = BooleanField("Offer me fewer places if not all are free")
    # the event page lists the event's own sections; any other id is refused by the engine
    section_ids = SelectMultipleField("Only in these sections", coerce=int, validate_choice=False)
    together = BooleanField("Seats side by side")
    max_price = DecimalField(
        "Most I will pay per place (€)",
        places=2,
        validators=[Optional(), NumberRange(min=0, max=1_000_000, message="Enter an amount from 0.")],
    )
    submit = SubmitField("Join the waitlist")
