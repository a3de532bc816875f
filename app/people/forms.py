from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from app.accounts.forms import enum_value
from app.forms import OptionalSelectField, PersonPickerField, VersionField, choices
from app.models.person import PersonStatus

STATUS_CHOICES = choices([(s.value, s.value.capitalize()) for s in PersonStatus])


class PersonForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the person's name."), Length(max=200)])
    work_email = EmailField(
        "Work email",
        validators=[
            DataRequired(message="Give a work email address."),
            Email(message="That is not an email address."),
            Length(max=254),
        ],
    )
    job_title = StringField("Job title", validators=[Optional(), Length(max=200)])
    department_id = OptionalSelectField("Department")
    manager_id = PersonPickerField("Manager", blank="— nobody —")
    hr_id = StringField("HR id", validators=[Optional(), Length(max=120)])
    personal_email = EmailField(
        "Personal email", validators=[Optional(), Email(message="That is not an email address."), Length(max=254)]
    )
    personal_phone = StringField("Personal phone", validators=[Optional(), Length(max=40)])
    status = SelectField("Status", choices=STATUS_CHOICES, default="active", coerce=enum_value)
    last_day = DateField("Last day", validators=[Optional()])
    left_on = DateField("Left on", validators=[Optional()])
    version = VersionField()
