from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from app.auth.forms import CODE_INPUT


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[Optional(), Length(max=256)], render_kw={"autocomplete": "current-password"}
    )
    password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password."), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Type the new password again",
        validators=[
            DataRequired(message="Type the new password again."),
            EqualTo("password", message="The two passwords differ."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class EnrolForm(FlaskForm):
    code = StringField(
        "Code from the app",
        validators=[DataRequired(message="Type the 6-digit code the app shows."), Length(max=20)],
        render_kw=CODE_INPUT,
    )


class ConfirmIdentityForm(FlaskForm):
    """Before turning two factors off or replacing recovery codes: the password (if any) and a current code."""

    password = PasswordField(
        "Your password", validators=[Optional(), Length(max=256)], render_kw={"autocomplete": "current-password"}
    )
    code = StringField("A code from the app, or a recovery code", validators=[Optional(), Length(max=40)], render_kw=CODE_INPUT)
