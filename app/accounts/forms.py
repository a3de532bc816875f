from __future__ import annotations

from enum import Enum
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length, Optional

from app.forms import OptionalSelectField, PersonPickerField, ProfilePickerField, VersionField, WebAddress, choices, optional_int
from app.models.account import AccountStatus, RecoveryKind

STATUS_CHOICES = choices([(s.value, s.value.capitalize()) for s in AccountStatus])
RECOVERY_CHOICES = choices([(k.value, k.label) for k in RecoveryKind])


def enum_value(value: Any) -> str:
    """Coerce for a select of enum values: a form built from a record gets the enum itself.

    Without this the edit form would mark no option selected, the browser would send the first
    one, and saving an unrelated change would silently reset the status.
    """
    return value.value if isinstance(value, Enum) else str(value)


class AccountForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the account a name."), Length(max=200)])
    platform_id = SelectField("Platform", coerce=optional_int, validators=[DataRequired(message="Choose a platform.")])
    handle = StringField("Handle", validators=[Optional(), Length(max=200)])
    url = URLField("Address (URL)", validators=[Optional(), WebAddress(), Length(max=500)])
    purpose = TextAreaField("Purpose", validators=[Optional(), Length(max=2000)])
    department_id = OptionalSelectField("Department")
    status = SelectField("Status", choices=STATUS_CHOICES, default="active", coerce=enum_value)
    owner_profile_id = ProfilePickerField("Owner profile", blank="— not recorded —")
    steward_id = PersonPickerField("Steward", blank="— nobody —")
    has_own_login = BooleanField("Has its own login (a username and password of its own)")
    version = VersionField()


class AdminForm(FlaskForm):
    profile_id = ProfilePickerField("Profile", blank="", validators=[DataRequired(message="Choose a profile.")])
    role_name = SelectField("Role", validate_choice=False)
    since = DateField("Since", validators=[Optional()])


class RecoveryForm(FlaskForm):
    kind = SelectField("Kind", choices=RECOVERY_CHOICES)
    value = StringField(
        "Address, number or name", validators=[DataRequired(message="Give the address, number or name."), Length(max=254)]
    )
    person_id = PersonPickerField("Tied to person", blank="— institutional (nobody in particular) —", include_departed=True)
    last_verified_at = DateField("Last verified", validators=[Optional()])


class ConnectionForm(FlaskForm):
    tool_name = StringField("Tool", validators=[DataRequired(message="Name the tool (e.g. Hootsuite)."), Length(max=120)])
    profile_id = ProfilePickerField("Authorised through profile", blank="— not recorded —")
    purpose = StringField("What it does", validators=[Optional(), Length(max=300)])


class RetireForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(message="Say why the account is retired."), Length(max=2000)])
    version = VersionField()
