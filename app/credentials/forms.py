from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import VersionField, choices
from app.models.credential import CredentialKind
from app.services.credentials import PASSWORD_CLASSES

KIND_CHOICES = choices([(k.value, k.label) for k in CredentialKind])
CLASS_LABELS = {
    "lower": "Lower-case letters (a–z)",
    "upper": "Capital letters (A–Z)",
    "digits": "Digits (0–9)",
    "symbols": "Symbols (!#$%…)",
}
CLASS_CHOICES = choices([(name, CLASS_LABELS[name]) for name in PASSWORD_CLASSES])
#: What a secret input asks of the browser: do not offer to remember or correct it.
SECRET_INPUT = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}
MAX_SECRET = 10_000


class SecretTextAreaField(TextAreaField):
    """A textarea for a secret (backup codes, a note): never rendered back with what was typed,
    so a page re-shown after an error does not carry the secret."""

    def _value(self) -> str:
        return ""


class NoteForm(FlaskForm):
    label = StringField(
        "Label", validators=[DataRequired(message="Give the note a label, e.g. “Registrar login”."), Length(max=200)]
    )
    kind = SelectField("Kind", choices=KIND_CHOICES, default=CredentialKind.PASSWORD.value)
    rotation_days = IntegerField(
        "Rotate every (days)",
        validators=[Optional()],
        render_kw={"inputmode": "numeric"},
    )
    version = VersionField()


class NewNoteForm(NoteForm):
    secret = PasswordField("Secret", validators=[Optional(), Length(max=MAX_SECRET)], render_kw=SECRET_INPUT)
    secret_lines = SecretTextAreaField(
        "Or several lines", validators=[Optional(), Length(max=MAX_SECRET)], render_kw={**SECRET_INPUT, "rows": 4}
    )


class RevealForm(FlaskForm):
    reason = TextAreaField(
        "Why do you need it?",
        validators=[DataRequired(message="Say why you need the secret (at least a few words)."), Length(max=500)],
        render_kw={"rows": 2},
    )
    password = PasswordField(
        "Confirm your password", validators=[Optional(), Length(max=256)], render_kw={"autocomplete": "current-password"}
    )
    code = StringField(
        "Code from your authenticator app",
        validators=[Optional(), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off", "spellcheck": "false"},
    )


class RotateForm(FlaskForm):
    new_secret = PasswordField("New value", validators=[Optional(), Length(max=MAX_SECRET)], render_kw=SECRET_INPUT)
    new_secret_lines = SecretTextAreaField(
        "New value", validators=[Optional(), Length(max=MAX_SECRET)], render_kw={**SECRET_INPUT, "rows": 4}
    )
    generate = BooleanField("Generate a random password instead (shown to you once)")
    length = IntegerField(
        "Length", default=24, validators=[Optional(), NumberRange(min=12, max=128, message="Choose a length from 12 to 128.")]
    )
    classes = SelectMultipleField(
        "Characters to use",
        choices=CLASS_CHOICES,
        default=list(PASSWORD_CLASSES),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Say why it is rotated, e.g. “Dana Whitfield left”."), Length(max=500)],
        render_kw={"rows": 2},
    )


class ReasonForm(FlaskForm):
    """Confirmation of a delete or a restore: a reason is required."""

    reason = TextAreaField("Reason", validators=[DataRequired(message="Give a reason."), Length(max=500)], render_kw={"rows": 3})
