"""Forms of the offboarding pages: start and cancel a case, one small form per item kind, waive, the exit declaration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.accounts.forms import RECOVERY_CHOICES
from app.credentials.forms import MAX_SECRET, SECRET_INPUT
from app.forms import OptionalSelectField, PersonPickerField, ProfilePickerField, VersionField, WebAddress

STALE_HINT = "The page was out of date; reload it and try again."


class ItemVersionField(VersionField):
    """The version of the item or case the page was built from; a post without it is refused."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("validators", [InputRequired(message=STALE_HINT)])
        super().__init__(*args, **kwargs)


class StartForm(FlaskForm):
    person_id = PersonPickerField(
        "Person leaving", blank="", include_departed=True, validators=[DataRequired(message="Choose who is leaving.")]
    )
    last_day = DateField("Last working day", validators=[DataRequired(message="Give the last working day.")])
    reason = TextAreaField("Reason (optional)", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})


class VersionOnlyForm(FlaskForm):
    """Confirm control, refresh, close, remove an admin: a button and the version."""

    version = ItemVersionField()


class TransferForm(FlaskForm):
    new_owner_profile_id = ProfilePickerField("Profile that takes ownership", blank="")
    version = ItemVersionField()


class AddAdminForm(FlaskForm):
    profile_id = ProfilePickerField("Profile to add as admin", blank="")
    role_name = SelectField("Role", validate_choice=False)
    version = ItemVersionField()


class RecoveryForm(FlaskForm):
    kind = SelectField("Kind", choices=RECOVERY_CHOICES)
    value = StringField("New address, number or name", validators=[Optional(), Length(max=254)])
    person_id = PersonPickerField("Tied to person", blank="— institutional (nobody in particular) —")
    version = ItemVersionField()


class RotateForm(FlaskForm):
    #: A PasswordField is never rendered with its value: the secret is not sent back.
    new_secret = PasswordField("New value", validators=[Optional(), Length(max=MAX_SECRET)], render_kw=SECRET_INPUT)
    reason = StringField("Reason", validators=[Optional(), Length(max=500)])
    version = ItemVersionField()


class PersonForm(FlaskForm):
    new_person_id = PersonPickerField("New person", blank="")
    version = ItemVersionField()


class ConnectionForm(FlaskForm):
    profile_id = ProfilePickerField("Re-authorised through profile", blank="")
    version = ItemVersionField()


class NoteForm(FlaskForm):
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    version = ItemVersionField()


class WaiveForm(FlaskForm):
    reason = TextAreaField(
        "Why is this item not needed?",
        validators=[DataRequired(message="Say why this item is not needed."), Length(max=2000)],
        render_kw={"rows": 3},
    )
    version = ItemVersionField()


class CancelForm(FlaskForm):
    reason = TextAreaField(
        "Why is the case cancelled?",
        validators=[DataRequired(message="Say why the case is cancelled."), Length(max=2000)],
        render_kw={"rows": 3},
    )
    version = ItemVersionField()


class DeclaredRow(FlaskForm):
    class Meta:
        csrf = False

    name = StringField("Account name", validators=[Optional(), Length(max=200)])
    platform_id = OptionalSelectField("Platform", blank="— choose —")
    url = StringField("Address (URL)", validators=[Optional(), WebAddress(), Length(max=500)])

    def is_empty(self) -> bool:
        return not ((self.name.data or "").strip() or self.platform_id.data or (self.url.data or "").strip())


#: Rows of the exit declaration shown at once.
DECLARATION_ROWS = 5


class ExitDeclarationForm(FlaskForm):
    declared = FieldList(FormField(DeclaredRow), min_entries=DECLARATION_ROWS, max_entries=DECLARATION_ROWS)
    none = BooleanField("There are no other organisation accounts to declare")
    version = ItemVersionField()


class TemplateItemForm(FlaskForm):
    """An item of the organisation's own offboarding template; the service checks the rules."""

    title = StringField("Title", render_kw={"maxlength": 500})
    description = TextAreaField("Description (optional)", validators=[Optional()], render_kw={"rows": 3})
    due_offset_days = IntegerField(
        "Due, in days relative to the last day",
        validators=[Optional()],
        render_kw={"min": -60, "max": 60, "inputmode": "numeric"},
    )
    assignee_role = SelectField("Assigned to")
