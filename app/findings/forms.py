from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

EXPIRY_MESSAGE = "Choose the date the acceptance runs out (as YYYY-MM-DD, e.g. 2030-01-31)."


class AcceptForm(FlaskForm):
    """Shape only: the service decides what a good reason and a valid expiry are."""

    reason = TextAreaField(
        "Why the organisation accepts this risk",
        validators=[DataRequired(message="Say why the organisation accepts this risk."), Length(max=2000)],
        render_kw={"rows": 3},
    )
    expires_on = DateField("Accepted until", invalid_value_message=EXPIRY_MESSAGE)

    def validate_expires_on(self, field: Any) -> None:
        # An unreadable date already carries EXPIRY_MESSAGE; a missing one gets it here, once.
        if field.data is None and not field.errors:
            raise ValidationError(EXPIRY_MESSAGE)
