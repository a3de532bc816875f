from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms import VersionField


class PlatformForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the platform's name, e.g. Facebook."), Length(max=120)])
    slug = StringField("Short name", validators=[Optional(), Length(max=60)])
    role_names = TextAreaField("Role names", validators=[Length(max=2000)])
    delegated_access = BooleanField("Offers delegated access (each person can have their own role)")
    owner_hint = TextAreaField("What “owner” means here", validators=[Optional(), Length(max=2000)])
    rotation_days = IntegerField(
        "Rotate credentials every (days)",
        default=365,
        validators=[InputRequired(message="Give a number of days.")],
    )
    version = VersionField()
