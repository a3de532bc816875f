from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import choices
from app.models.api_token import Scope
from app.services.api_tokens import MAX_DAYS

SCOPE_CHOICES = choices([(s.value, f"{s.value} — {s.description}") for s in Scope])


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(message="Name the token after the system that will use it."), Length(max=120)],
    )
    scopes = SelectMultipleField(
        "Scopes", choices=SCOPE_CHOICES, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    days = IntegerField(
        "Valid for (days)",
        default=365,
        validators=[DataRequired(message="Say how many days the token works."), NumberRange(min=1, max=MAX_DAYS)],
        render_kw={"inputmode": "numeric"},
    )
