from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import DataRequired


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired(message="Choose the CSV file to import.")])


class ConfirmForm(FlaskForm):
    """Posts back the signed upload the preview was made from (see ``staging``)."""

    upload = HiddenField(validators=[DataRequired(message="Upload the file again to see a fresh preview.")])
