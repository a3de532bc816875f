from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.forms import PersonPickerField, VersionField


class DepartmentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the department a name."), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    head_id = PersonPickerField("Head", blank="— nobody yet —", include_departed=True)
    version = VersionField()
