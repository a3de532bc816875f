from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from app.forms import PersonPickerField, VersionField, choices, optional_int
from app.models.profile import ProfileKind

KIND_CHOICES = choices([(k.value, k.label) for k in ProfileKind])


class ProfileForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired(message="Give the profile's name as it appears on the platform."), Length(max=200)]
    )
    platform_id = SelectField("Platform", coerce=optional_int, validators=[DataRequired(message="Choose a platform.")])
    kind = SelectField("Kind", choices=KIND_CHOICES, default=ProfileKind.PERSONAL.value)
    handle = StringField("Handle or sign-in name", validators=[Optional(), Length(max=200)])
    holder_id = PersonPickerField("Holder", blank="— nobody (not a personal profile) —", include_departed=True)
    signup_email = EmailField(
        "Sign-up email", validators=[Optional(), Email(message="That is not an email address."), Length(max=254)]
    )
    speaks_for_organisation = BooleanField("Speaks for the organisation (answers patrons, posts news)")
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=4000)])
    version = VersionField()


class CustodianForm(FlaskForm):
    person_id = PersonPickerField("Person", blank="", validators=[DataRequired(message="Choose a person.")])
