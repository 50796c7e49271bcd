"""Admin forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SearchField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from atomicseats.models.users import ROLES
from atomicseats.pipeline.dead_letters import BOOKING, EMAIL


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])
    submit = SubmitField("Change role")


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("Find users by name or email", validators=[Optional(), Length(max=100)])


class DeadLetterFilterForm(FlaskForm):
    """The dead-letter list's filters, in the query string (a GET: no CSRF)."""

    class Meta:
        csrf = False

    kind = SelectField(
        "Kind",
        choices=[SelectChoice("", "Both"), SelectChoice(EMAIL, "Email"), SelectChoice(BOOKING, "Booking")],
        default="",
    )
    event = IntegerField("Event id", validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])
    since = DateField("Parked from (UTC)", validators=[Optional()])
    until = DateField("Parked until (UTC, inclusive)", validators=[Optional()])
    state = SelectField(
        "Replayed",
        choices=[
            SelectChoice("open", "Not replayed"),
            SelectChoice("replayed", "Replayed"),
            SelectChoice("all", "Either"),
        ],
        default="open",
    )


class ReplayForm(FlaskForm):
    """Replay the ticked letters (or the one a detail page shows)."""

    letters = SelectMultipleField(
        "Dead letters", coerce=int, validate_choice=False, validators=[DataRequired("Tick at least one dead letter.")]
    )
    submit = SubmitField("Replay selected")
