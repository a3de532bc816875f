from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms import VersionField


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Name the campaign."), Length(max=200)])
    due_on = DateField("Due date", validators=[DataRequired(message="Give the date by which accounts should be reviewed.")])
    department_ids = SelectMultipleField("Departments", coerce=int, validators=[Optional()])


class ConfirmForm(FlaskForm):
    """“Everything is right”: posts the account version the reviewer saw (a later change means look again)."""

    note = TextAreaField("Anything to add (optional)", validators=[Optional(), Length(max=2000)])
    account_version = VersionField(
        validators=[InputRequired(message="This page was out of date; it has been reloaded, check it and try again.")]
    )


class CorrectForm(FlaskForm):
    """“I corrected it”: the account was corrected on its own pages; the note says what changed."""

    note = TextAreaField(
        "What did you correct?",
        validators=[DataRequired(message="Say what you corrected, e.g. “replaced the recovery email”."), Length(max=2000)],
    )
