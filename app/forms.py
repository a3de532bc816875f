"""Form pieces shared by several blueprints."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

from app.extensions import db
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile


def optional_int(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class OptionalSelectField(SelectField):
    """A select whose first option is "none"; its data is an int id or None."""

    def __init__(self, *args: Any, blank: str = "— none —", **kwargs: Any) -> None:
        kwargs.setdefault("coerce", optional_int)
        super().__init__(*args, **kwargs)
        self.blank = blank

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        super().pre_validate(form)


class VersionField(HiddenField):
    """The version of the record the form was built from (stale-edit check)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = optional_int(valuelist[0]) if valuelist else None


def choices(pairs: list[tuple[Any, str]]) -> list[SelectChoice]:
    """Options for a select field or a filter list, from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def platform_choices() -> list[SelectChoice]:
    return choices([(p.id, p.name) for p in db.session.scalars(sa.select(Platform).order_by(Platform.name))])


def department_choices(blank: str = "— none —") -> list[SelectChoice]:
    return choices([("", blank)] + [(d.id, d.name) for d in db.session.scalars(sa.select(Department).order_by(Department.name))])


def person_choices(blank: str = "— nobody —", include_departed: bool = False) -> list[SelectChoice]:
    stmt = sa.select(Person).order_by(Person.name)
    if not include_departed:
        stmt = stmt.where(Person.status != PersonStatus.DEPARTED)
    return choices(
        [("", blank)] + [(p.id, p.name if p.is_active else f"{p.name} ({p.status.value})") for p in db.session.scalars(stmt)]
    )


def profile_choices(platform_id: int | None = None, blank: str = "— not recorded —") -> list[SelectChoice]:
    stmt = sa.select(Profile).join(Profile.platform).order_by(Platform.name, Profile.name)
    if platform_id:
        stmt = stmt.where(Profile.platform_id == platform_id)
    return choices(
        [("", blank)]
        + [
            (p.id, f"{p.label} — {p.kind.label.lower()}" + ("" if platform_id else f" ({p.platform.name})"))
            for p in db.session.scalars(stmt)
        ]
    )


def apply_errors(form: Any, error: Any) -> None:
    """Put a service's ValidationFailed field errors on the form's fields (or the form, if no field matches)."""
    for name, messages in getattr(error, "field_errors", {}).items():
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            if not isinstance(target.errors, list):
                target.errors = list(target.errors)
            target.errors.extend(messages)
        else:
            form.form_errors.extend(messages)
    if not getattr(error, "field_errors", None):
        form.form_errors.append(error.message)
