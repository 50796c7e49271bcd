"""Admin forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SearchField, SelectChoice, SelectField, SubmitField
from wtforms.validators import Length, Optional

from atomicseats.models.users import ROLES


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])
    submit = SubmitField("Change role")


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("Find users by name or email", validators=[Optional(), Length(max=100)])
