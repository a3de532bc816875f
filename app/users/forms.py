from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms import PersonPickerField, choices
from app.models.user import Role

ROLE_CHOICES = choices([(r.value, r.label) for r in Role])


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Give the email the invitation goes to."), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.STAFF.value)
    person_id = PersonPickerField("Person", blank="— match by work email —")


class RoleForm(FlaskForm):
    role = SelectField("New role", choices=ROLE_CHOICES)


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        "Reason", validators=[DataRequired(message="Say why (it goes in the audit log)."), Length(max=500)], render_kw={"rows": 2}
    )
